// ConnectionCount and ConnectionSlot: the session-wide connection cap shared with metadata fetches.
#include <doctest/doctest.h>

#include <memory>
#include <utility>
#include <vector>

#include "session/connection_count.hpp"

using namespace p2p;

TEST_CASE("connection slot: takes a place while there is one, gives it back once") {
    auto count = std::make_shared<ConnectionCount>(2);
    ConnectionSlot a, b, c;
    CHECK(a.take(count));
    CHECK(b.take(count));
    CHECK(!c.take(count)); // full
    CHECK(!c.held());
    CHECK(count->open() == 2);
    a.release();
    a.release(); // twice: still one place given back
    CHECK(count->open() == 1);
    CHECK(c.take(count));
    CHECK(count->open() == 2);
}

TEST_CASE("connection slot: moving passes the place on; destruction gives it back") {
    auto count = std::make_shared<ConnectionCount>(4);
    {
        ConnectionSlot a;
        REQUIRE(a.take(count));
        ConnectionSlot b(std::move(a));
        CHECK(!a.held()); // NOLINT(bugprone-use-after-move): the moved-from state is the point
        CHECK(b.held());
        CHECK(count->open() == 1);
        ConnectionSlot c;
        REQUIRE(c.take(count));
        c = std::move(b); // c's own place is given back, b's is now c's
        CHECK(count->open() == 1);
        std::vector<ConnectionSlot> v;
        v.emplace_back();
        REQUIRE(v.back().take(count));
        v.emplace_back(); // reallocation moves the slots
        CHECK(count->open() == 2);
    }
    CHECK(count->open() == 0);
}

TEST_CASE("connection slot: a null count has no cap; the session's own opened/closed share the count") {
    ConnectionSlot free_slot;
    CHECK(free_slot.take(nullptr));
    CHECK(free_slot.held());
    free_slot.release();

    auto count = std::make_shared<ConnectionCount>(1);
    count->opened(); // a torrent's connection, counted by hand
    ConnectionSlot s;
    CHECK(!s.take(count));
    count->closed();
    count->closed(); // never below zero
    CHECK(count->open() == 0);
    CHECK(s.take(count));
    CHECK(!count->may_open());
}

TEST_CASE("connection slot: outlives the session that made the count") {
    ConnectionSlot s;
    {
        auto count = std::make_shared<ConnectionCount>(1);
        REQUIRE(s.take(count));
    }            // the session's reference is gone; the slot keeps the count alive
    s.release(); // no use of a freed counter (ASan would say)
    CHECK(!s.held());
}
