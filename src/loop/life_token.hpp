// Whether an object still exists, for the callbacks that may outlive it (a libuv request or timer, a deferred
// task, another object's callback) or destroy it (a user callback run from inside it). The object holds a
// LifeToken as a member; a callback captures a Watch of it (watch()) and checks it first: the token dies with
// the object, so a callback that finds its Watch expired returns without touching anything.
//
//     loop.defer([this, alive = life_.watch()] { if (alive) work(); });
//     client.lookup(name, life_.bind([this](Result<Hit> r) { on_hit(std::move(r)); }));
//
// This is the one liveness mechanism of the code base (docs/HACKING.md, "Lifetimes"): with Loop::defer_delete
// for destroying an object after the callback that finished with it, nothing else is needed.
#pragma once
#include <memory>
#include <utility>

namespace p2p {

class LifeToken {
public:
    class Watch {
    public:
        Watch() = default;
        bool alive() const { return !w_.expired(); }
        explicit operator bool() const { return alive(); }

    private:
        friend class LifeToken;
        explicit Watch(std::weak_ptr<const char> w) : w_(std::move(w)) {}
        std::weak_ptr<const char> w_;
    };

    LifeToken() = default;
    // A copy or move of the owner is another object: it gets a token of its own.
    LifeToken(const LifeToken&) : LifeToken() {}
    LifeToken& operator=(const LifeToken&) { return *this; }

    Watch watch() const { return Watch(p_); }
    // f, run only while the owner lives (its result, if any, is dropped).
    template <class F>
    auto bind(F f) const {
        return [w = watch(), f = std::move(f)](auto&&... args) mutable {
            if (w) f(std::forward<decltype(args)>(args)...);
        };
    }
    // Ends every Watch now (an object that is reset in place rather than destroyed).
    void expire() { p_ = std::make_shared<const char>(0); }

private:
    std::shared_ptr<const char> p_ = std::make_shared<const char>(0);
};

} // namespace p2p
