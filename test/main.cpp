#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "crypto/random.hpp"

int main(int argc, char** argv) {
    p2p::crypto_init();
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
