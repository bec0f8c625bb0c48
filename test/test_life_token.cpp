// Tests for src/loop/life_token.hpp.
#include <doctest/doctest.h>

#include <memory>
#include <optional>

#include "loop/life_token.hpp"

using namespace p2p;

TEST_CASE("life token: a watch expires with its owner, a bound callback then does nothing") {
    struct Owner {
        LifeToken life;
    };
    int calls = 0;
    auto o = std::make_unique<Owner>();
    auto w = o->life.watch();
    auto cb = o->life.bind([&calls](int n) { calls += n; });
    CHECK(w);
    cb(2);
    CHECK(calls == 2);
    o.reset();
    CHECK_FALSE(w);
    cb(5);
    CHECK(calls == 2);
}

TEST_CASE("life token: copies get tokens of their own; expire() ends the current watches") {
    LifeToken a;
    auto wa = a.watch();
    std::optional<LifeToken> b(a);
    auto wb = b->watch();
    b.reset();
    CHECK(wa);
    CHECK_FALSE(wb);
    a.expire();
    CHECK_FALSE(wa);
    CHECK(a.watch());
    LifeToken::Watch none;
    CHECK_FALSE(none);
}
