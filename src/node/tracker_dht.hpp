// The tracker's --dht-port: a DHT node (BEP 5) beside the tracker, a stable bootstrap node for its peers, on a
// UDP socket of its own that refuses uTP. Its table is saved to STATE.dht on the host's timer, on save_now
// (SIGHUP) and at stop (node/dht_host.hpp). Behind this class so that tracker_node.cpp names no DHT code: a build
// configured with -Ddht=false links node/dht_none.cpp instead, whose open() fails with one line naming the option.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.hpp"

namespace p2p {

class Loop;

class TrackerDht {
public:
    // ip: the address to bind ("0.0.0.0" for all); state_path: "" = nothing read or saved.
    static Result<std::unique_ptr<TrackerDht>> open(Loop& loop, const std::string& ip, std::uint16_t port,
                                                    std::string state_path);
    ~TrackerDht();
    TrackerDht(const TrackerDht&) = delete;
    TrackerDht& operator=(const TrackerDht&) = delete;

    std::uint16_t port() const;
    Status save_now(); // a failure is logged by the host too
    void stop();       // the final save; idempotent

private:
    struct Impl;
    explicit TrackerDht(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace p2p
