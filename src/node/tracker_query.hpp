// The questions a running peer's console asks its tracker: the catalog (`list`) and counts (`scrape`).
//
// One UDP client (BEP 15 + the catalog extension) on the first udp:// URL given with --tracker, made on first
// use, with a short overall timeout so an unanswering tracker gives the operator an error line instead of the
// whole BEP 15 retransmit schedule (~1 hour). It is separate from the announcers' clients on purpose: those
// keep the long schedule. With no udp:// tracker, `scrape` of an info hash asks the first http:// or https://
// tracker instead (BEP 48; names need the catalog). Callbacks come from the loop; destroying the query drops
// pending answers.
#pragma once
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "node/peer_console.hpp"
#include "tracker/http_client.hpp"
#include "tracker/udp_client.hpp"

namespace p2p {

class TrackerQuery {
public:
    template <class T>
    using Done = std::function<void(Result<T>)>;
    TrackerQuery(uv_loop_t* loop, std::vector<std::string> urls, double timeout_s = 10, std::string ca_file = {});

    void list(Done<std::vector<udp::CatalogEntry>> done);
    // By raw info hash; `name` only labels the answer.
    void scrape_hash(const std::string& name, const std::string& raw_hash, Done<ConsoleScrape> done);
    // A 40-hex info hash, or a name looked up in the catalog.
    void scrape(const std::string& what, Done<ConsoleScrape> done);

private:
    UdpTrackerClient* client();       // nullptr: no udp:// tracker was given
    HttpTrackerClient* http_client(); // nullptr: no http:// or https:// tracker was given

    uv_loop_t* loop_;
    std::vector<std::string> urls_;
    double timeout_s_;
    std::string ca_file_;
    std::unique_ptr<UdpTrackerClient> client_;
    std::unique_ptr<HttpTrackerClient> http_;
};

} // namespace p2p
