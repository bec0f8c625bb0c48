// For tests that check a P2P_ASSERT fires (base/assert.hpp): while an AssertSpy lives, failed checks are counted
// here instead of going to the default handler (which aborts in debug builds), and the code under test goes on
// as it does in a release build.
#pragma once
#include <string>

#include "base/assert.hpp"

namespace p2p::test {

class AssertSpy {
public:
    AssertSpy() : prev_(set_assert_handler(&AssertSpy::on_fail)) {
        fired() = 0;
        last().clear();
    }
    ~AssertSpy() { set_assert_handler(prev_); }
    AssertSpy(const AssertSpy&) = delete;
    AssertSpy& operator=(const AssertSpy&) = delete;

    int count() const { return fired(); }
    const std::string& last_what() const { return last(); } // the `what` of the latest failure
    const AssertInfo& last_info() const { return info(); }

private:
    static int& fired() {
        static int n = 0;
        return n;
    }
    static std::string& last() {
        static std::string s;
        return s;
    }
    static AssertInfo& info() {
        static AssertInfo i{};
        return i;
    }
    static void on_fail(const AssertInfo& a) {
        ++fired();
        last() = a.what;
        info() = a;
    }
    AssertHandler prev_;
};

} // namespace p2p::test
