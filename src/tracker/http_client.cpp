#include "tracker/http_client.hpp"

#include <http_parser.h>
#include <netinet/in.h>

#include <cstring>

#include "base/log.hpp"

namespace p2p {

HttpTrackerClient::HttpTrackerClient(uv_loop_t* loop, std::string url, HttpGetOptions options)
    : loop_(loop), url_(std::move(url)), opt_(std::move(options)), parsed_(http_tracker::parse_url(url_)) {}

HttpTrackerClient::~HttpTrackerClient() = default; // each HttpGet / Timer detaches its handles itself

std::string HttpTrackerClient::where() const {
    // Without the query: private trackers put the user's passkey there, and this text ends up in logs.
    return parsed_ ? "http tracker " + parsed_->origin() + parsed_->path : "http tracker";
}

std::unique_ptr<HttpTrackerClient::Op> HttpTrackerClient::take(Op* o) {
    for (auto it = ops_.begin(); it != ops_.end(); ++it)
        if (it->get() == o) {
            auto owned = std::move(*it);
            ops_.erase(it);
            return owned;
        }
    return nullptr;
}

void HttpTrackerClient::get(Result<std::string> url, const char* what,
                            std::function<void(Result<std::string>)> handle) {
    std::optional<Error> pre;
    if (!url)
        pre = url.error();
    else if (ops_.size() >= kMaxPending)
        pre = make_error(where(), std::string("too many pending ") + what + " (" + std::to_string(kMaxPending) + ")");
    ops_.push_back(std::make_unique<Op>());
    Op* o = ops_.back().get();
    if (pre) {
        o->fail = std::make_unique<Timer>(loop_);
        // The Timer may be destroyed inside its own callback: its block (and this lambda) outlive the call.
        o->fail->start(0, 0, [this, o, e = std::move(*pre), handle = std::move(handle)] {
            take(o).reset();
            handle(e); // last: may destroy this client
        });
        return;
    }
    // HttpGet::finish holds the running callback on its own stack, so destroying the HttpGet inside it is safe.
    o->get =
        std::make_unique<HttpGet>(loop_, *url, opt_, [this, o, handle = std::move(handle)](Result<HttpResponse> res) {
            take(o).reset();
            if (!res) return handle(make_error(where(), res.error().str(), res.error().code));
            if (res->status != 200) {
                std::string msg = "HTTP status " + std::to_string(res->status) + " " +
                                  http_status_str(static_cast<http_status>(res->status));
                // Some trackers send their refusal with a 4xx status and a bencoded body: keep its reason.
                auto decoded = http_tracker::decode_announce_response(res->body);
                if (!decoded && decoded.error().code == Errc::rejected) msg += " (" + decoded.error().what + ")";
                return handle(make_error(where(), msg, Errc::rejected));
            }
            handle(std::move(res->body)); // last: may destroy this client
        });
}

void HttpTrackerClient::announce(const AnnounceParams& p, Callback<AnnounceResult> cb) {
    Result<std::string> url = std::string();
    if (!parsed_)
        url = parsed_.error();
    else {
        http_tracker::AnnounceRequest r;
        r.info_hash = p.info_hash;
        r.peer_id = p.peer_id;
        r.port = p.port;
        r.uploaded = p.uploaded;
        r.downloaded = p.downloaded;
        r.left = p.left;
        r.event = p.event;
        r.numwant = p.numwant;
        r.key = p.key;
        url = parsed_->origin() + http_tracker::announce_target(*parsed_, r);
    }
    get(std::move(url), "announces", [this, cb = std::move(cb)](Result<std::string> body) {
        if (!body) return cb(body.error());
        auto decoded = http_tracker::decode_announce_response(*body);
        if (!decoded) return cb(make_error(where(), decoded.error().str(), decoded.error().code));
        if (decoded->warning) log_warn("announce", where() + ": warning message: " + *decoded->warning);
        if (decoded->dropped)
            log_debug("announce", where() + ": ignored " + std::to_string(decoded->dropped) + " peer entries");
        AnnounceResult out;
        out.interval = decoded->interval;
        // BEP 3 "min interval": never announce more often than the tracker allows; kept for the Announcer's
        // quicker re-announces too (min_interval_s()).
        min_interval_s_ = decoded->min_interval.value_or(0);
        if (min_interval_s_ > out.interval) out.interval = min_interval_s_;
        out.seeders = decoded->complete;
        out.leechers = decoded->incomplete;
        out.peers = to_endpoints(decoded->peers);
        cb(std::move(out)); // last: may destroy this client
    });
}

void HttpTrackerClient::scrape(const std::vector<udp::Hash20>& hashes, Callback<std::vector<udp::ScrapeEntry>> cb) {
    Result<std::string> url = std::string();
    if (!parsed_)
        url = parsed_.error();
    else {
        auto surl = http_tracker::scrape_url(url_);
        if (!surl)
            url = make_error(where(), surl.error().what, surl.error().code);
        else if (hashes.empty() || hashes.size() > http_tracker::kMaxScrapeHashes)
            url = make_error(where(), "a scrape names 1 to " + std::to_string(http_tracker::kMaxScrapeHashes) +
                                          " info hashes, not " + std::to_string(hashes.size()));
        else {
            auto parsed = http_tracker::parse_url(*surl);
            url = parsed ? parsed->origin() + http_tracker::scrape_target(*parsed, hashes)
                         : Result<std::string>(parsed.error());
        }
    }
    get(std::move(url), "scrapes", [this, hashes, cb = std::move(cb)](Result<std::string> body) {
        if (!body) return cb(body.error());
        auto decoded = http_tracker::decode_scrape_response(*body);
        if (!decoded) return cb(make_error(where(), decoded.error().str(), decoded.error().code));
        std::vector<udp::ScrapeEntry> out(hashes.size());
        for (std::size_t i = 0; i < hashes.size(); ++i)
            for (const auto& f : decoded->files)
                if (f.info_hash == hashes[i]) {
                    out[i].seeders = f.complete;
                    out[i].completed = f.downloaded;
                    out[i].leechers = f.incomplete;
                    break;
                }
        cb(std::move(out)); // last: may destroy this client
    });
}

} // namespace p2p
