#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

#include "crypto/random.hpp"

int main(int argc, char** argv) {
    p2p::crypto_init();
    std::signal(SIGPIPE, SIG_IGN); // as in the program: a closed peer socket is an error value, not a signal
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
