// PeerNode, the RPC port (--rpc-port): the operations RpcMethods may call (rpc_methods.hpp), each the node
// operation the console already uses (add_download for torrent-add, pause_item, resume_item, remove_item,
// limit_item), and the rows and counters of peer_node_rows.cpp. Nothing here decides anything the console's commands
// do not: it reads the items and fetches into RPC rows and turns an add request into the console's `get`.
// torrent-add of a URL or a catalog name answers later (rpc_add_async): the URL's .torrent is fetched with HttpGet
// and added as uploaded metainfo is; the name is looked up with the console's lookups and fetched like a magnet.
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "base/bytes.hpp"
#include "base/read_file.hpp"
#include "node/peer_node_impl.hpp"
#include "p2pnode/p2pnode.hpp"

namespace p2p {

// The deadline of a URL's or a name's add; P2PNODE_RPC_ADD_DEADLINE_MS (a test's hook, like
// P2PNODE_DHT_BOOTSTRAP) may shorten it, never lengthen it past kRpcAddDeadlineMs.
std::uint64_t PeerNode::rpc_add_deadline_ms() {
    static_assert(kRpcAddDeadlineMs < RpcServer::kDeferredTimeoutMs, "an add must give up before its 504");
    if (const char* env = std::getenv("P2PNODE_RPC_ADD_DEADLINE_MS")) {
        char* end = nullptr;
        unsigned long long v = std::strtoull(env, &end, 10);
        if (end != env && *end == '\0' && v > 0) return std::min<std::uint64_t>(v, kRpcAddDeadlineMs);
    }
    return kRpcAddDeadlineMs;
}

namespace fs = std::filesystem;

Status PeerNode::start_rpc() {
    RpcServerConfig rc;
    rc.bind = cfg_.rpc_bind;
    rc.port = static_cast<std::uint16_t>(cfg_.rpc_port);
    // Counted in --max-memory: the plan gives the RPC its connections and body cap (base/memory_budget.hpp).
    rc.max_connections = session_.memory_plan().rpc_connections;
    rc.max_body = session_.memory_plan().rpc_max_body;
    if (!cfg_.rpc_auth_file.empty()) {
        auto auth = RpcServer::read_auth_file(cfg_.rpc_auth_file);
        if (!auth) return make_error("--rpc-auth-file " + cfg_.rpc_auth_file, auth.error().what);
        rc.auth = std::move(*auth);
    }
    rpc_.reset(new RpcServer(loop_.get(), rc, rpc_ops(), [this] { return peer_counters(); }));
    if (auto st = rpc_->listen(); !st) return make_error("--rpc-port", st.error().str());
    say("rpc %s\n", rpc_->url().c_str());
    return ok_status();
}

void PeerNode::rpc_close() {
    if (rpc_) rpc_->close();
}

void PeerNode::RpcServerDelete::operator()(RpcServer* server) const { delete server; }

bool rpc_available() { return true; }

std::optional<RpcAdded> PeerNode::rpc_existing(const std::string& hash, const std::string& name) {
    if (auto it = items_.find(hash); it != items_.end() && it->second.torrent)
        return RpcAdded{to_hex(hash), it->second.torrent->meta().name, true};
    if (fetches_.has(hash)) return RpcAdded{to_hex(hash), name.empty() ? to_hex(hash) : name, true};
    return std::nullopt;
}

// torrent-add: a .torrent's bytes continue as a .torrent read from disk does (start_download); a file name, a
// magnet link or an info hash goes through add_download, the console's `get`. Duplicates are answered, not
// added twice.
Result<RpcAdded> PeerNode::rpc_add(const RpcAddRequest& req) {
    const std::string what = req.filename.empty() ? std::string("metainfo") : req.filename;
    if (quitting_) return make_error(what, "stopping");
    std::error_code ec;
    if (!req.metainfo.empty() || fs::is_regular_file(req.filename, ec)) {
        std::string bytes = req.metainfo;
        if (bytes.empty()) {
            auto r = read_file(req.filename, kMaxTorrentFileSize);
            if (!r) return r.error();
            bytes = std::move(*r);
        }
        auto meta = parse_torrent(bytes);
        if (!meta) return make_error(what, meta.error().str());
        const std::string hash = meta->info_hash, name = meta->name;
        if (auto dup = rpc_existing(hash, name)) return *dup;
        if (req.metainfo.empty()) {
            if (!add_download(req.filename)) return make_error(what, "not started (the reason is on stderr)");
        } else {
            start_download(std::move(*meta), {});
        }
        if (!items_.count(hash)) return make_error(what, "not started (the reason is on stderr)");
        if (req.paused)
            if (auto p = pause_item(to_hex(hash)); !p) return p.error();
        return RpcAdded{to_hex(hash), name, false};
    }
    std::string hash, name;
    if (req.filename.rfind("magnet:", 0) == 0) {
        auto m = parse_magnet(req.filename);
        if (!m) return make_error(what, m.error().str());
        hash = m->info_hash;
        name = m->display_name;
    } else if (auto h = parse_info_hash_arg(req.filename)) {
        hash = *h;
    } else {
        return make_error(what, "not a magnet link, an info hash, an http(s):// URL, a catalog name or a .torrent "
                                "file on this machine");
    }
    if (auto dup = rpc_existing(hash, name)) return *dup;
    if (!add_download(req.filename)) return make_error(what, "not started (the reason is on stderr)");
    if (req.paused) // its metadata fetch, paused
        if (auto p = pause_item(to_hex(hash)); !p) return p.error();
    return RpcAdded{to_hex(hash), name.empty() ? to_hex(hash) : name, false};
}

void PeerNode::rpc_add_async(const RpcAddRequest& req, RpcNodeOps::AddDone done) {
    const std::string& f = req.filename;
    const bool url = req.metainfo.empty() && (f.rfind("http://", 0) == 0 || f.rfind("https://", 0) == 0);
    // A name: what add_download would look up (a file of that name wins).
    const bool name = !url && req.metainfo.empty() && !f.empty() && add_kind(f) == AddKind::name;
    if (!url && !name) return done(rpc_add(req));
    if (quitting_) return done(make_error(f, "stopping"));
    if (rpc_adds_.size() >= kMaxRpcAdds)
        return done(make_error(f, "too many adds in progress (at most " + std::to_string(kMaxRpcAdds) +
                                      " URLs and names at once); try again shortly"));
    const std::uint64_t id = ++rpc_add_next_;
    RpcAddJob job{f, req.paused, std::move(done), nullptr, nullptr};
    if (url) {
        HttpGetOptions o;
        o.timeout_ms = kRpcFetchTimeoutMs;
        o.max_body = kMaxTorrentFileSize;
        o.ca_file = cfg_.ca_file;
        job.get =
            std::make_unique<HttpGet>(loop_.get(), f, o, [this, id, alive = life_.watch()](Result<HttpResponse> r) {
                if (alive) rpc_add_fetched(id, std::move(r));
            });
        say("fetching %s\n", f.c_str());
    } else {
        auto st = lookups_.start(f, [this, id, alive = life_.watch()](Result<CatalogHit> r) {
            if (alive) rpc_add_found(id, std::move(r));
        });
        if (!st) return job.done(st.error());
        say("looking up %s\n", f.c_str());
    }
    // A lookup may take its trackers' whole retry schedule (BEP 15: 15 s, 30 s, ...): the add gives up first, and
    // answers, so that the client never sees the RPC's 504 for an add that then happens.
    job.expiry = std::make_unique<Timer>(loop_.get());
    job.expiry->start(rpc_add_deadline_ms(), 0, [this, id] { rpc_add_expired(id); });
    rpc_adds_.emplace(id, std::move(job));
}

// No answer by the deadline: the job ends (a late result finds no job and adds nothing).
void PeerNode::rpc_add_expired(std::uint64_t id) {
    auto job = rpc_take_job(id); // destroys its timer, ours: allowed from inside its callback (loop/timer.hpp)
    if (!job) return;
    Error e = make_error(job->what, "no answer within " + std::to_string(rpc_add_deadline_ms() / 1000) +
                                        " s (not added; try again)");
    error_line(e.str());
    job->done(std::move(e));
}

std::optional<PeerNode::RpcAddJob> PeerNode::rpc_take_job(std::uint64_t id) {
    auto it = rpc_adds_.find(id);
    if (it == rpc_adds_.end()) return std::nullopt; // cancelled
    RpcAddJob job = std::move(it->second);
    rpc_adds_.erase(it);
    loop_.defer_delete(std::move(job.get)); // we are inside its callback
    return job;
}

// A URL's .torrent came (or not): added exactly as a metainfo upload is (rpc_add: duplicates, paused).
void PeerNode::rpc_add_fetched(std::uint64_t id, Result<HttpResponse> r) {
    auto job = rpc_take_job(id);
    if (!job) return;
    const std::string& url = job->what;
    if (quitting_) return job->done(make_error(url, "stopping"));
    auto failed = [&](const std::string& why) {
        Error e = make_error(url, why);
        error_line(e.str()); // as the console's get says it
        job->done(std::move(e));
    };
    if (!r) return failed(r.error().str());
    if (r->status < 200 || r->status > 299)
        return failed("the server answered HTTP " + std::to_string(r->status) +
                      (r->status == 404 ? " (not found)" : ""));
    if (auto meta = parse_torrent(r->body); !meta) return failed("not a .torrent (" + meta.error().str() + ")");
    RpcAddRequest add;
    add.metainfo = std::move(r->body);
    add.paused = job->paused;
    auto added = rpc_add(add);
    if (!added) return failed(added.error().str());
    job->done(std::move(added));
}

// A catalog name was looked up (like lookup_name): its hash's metadata is fetched like a magnet's.
void PeerNode::rpc_add_found(std::uint64_t id, Result<CatalogHit> r) {
    auto job = rpc_take_job(id);
    if (!job) return;
    if (quitting_) return job->done(make_error(job->what, "stopping"));
    if (!r) {
        error_line(r.error().str());
        job->done(r.error()); // "NAME: not in the catalog of udp://..."
        return check_done();  // --exit-when-done waited for this lookup too
    }
    say("found %s %s (%llu bytes)\n", r->name.c_str(), to_hex(r->info_hash).c_str(),
        static_cast<unsigned long long>(r->total_size));
    if (auto dup = rpc_existing(r->info_hash, r->name)) return job->done(*dup);
    if (!fetch_metadata(r->info_hash, r->name, {}))
        return job->done(make_error(job->what, "not started (" + last_error_ + ")"));
    if (job->paused)
        if (auto p = pause_item(to_hex(r->info_hash)); !p) return job->done(p.error());
    job->done(RpcAdded{to_hex(r->info_hash), r->name, false});
}

// The RPC closes (quit): every add in flight ends now, answered "stopping" (its connection closes right after).
// Their fetches are let go of after the current callback (quit may run inside one); names' lookups were
// cancelled with the others.
void PeerNode::rpc_cancel_adds() {
    auto jobs = std::move(rpc_adds_);
    rpc_adds_.clear();
    for (auto& [id, job] : jobs) {
        loop_.defer_delete(std::move(job.get));
        job.done(make_error(job.what, "stopping"));
    }
}

RpcNodeOps PeerNode::rpc_ops() {
    RpcNodeOps o;
    o.torrents = [this] { return rpc_torrents(); };
    o.files = [this](const std::string& what) -> Result<std::vector<FileProgress>> {
        Item* it = find_item(what);
        if (!it) return make_error(what, kNotOurs, Errc::not_found);
        return it->torrent->files();
    };
    o.peers = [this](const std::string& what) -> Result<std::vector<PeerSummary>> {
        Item* it = find_item(what);
        if (!it) return make_error(what, kNotOurs, Errc::not_found);
        return it->torrent->peer_summaries();
    };
    o.trackers = [this](const std::string& what) -> std::vector<TrackerStatus> {
        if (Item* it = find_item(what); it && it->announcer) return it->announcer->trackers();
        std::string raw;
        if (from_hex(what, raw))
            for (const auto& f : fetches_.rows())
                if (f.info_hash == raw) return f.trackers;
        return {};
    };
    o.add = [this](const RpcAddRequest& r) { return rpc_add(r); };
    o.add_async = [this](const RpcAddRequest& r, RpcNodeOps::AddDone done) { rpc_add_async(r, std::move(done)); };
    o.cancel_adds = [this] { rpc_cancel_adds(); };
    o.pause = [this](const std::string& what) { return pause_item(what); };
    o.resume = [this](const std::string& what) { return resume_item(what); };
    o.reannounce = [this](const std::string& what) { return reannounce_item(what); };
    o.verify = [this](const std::string& what) { return verify_item(what); };
    o.remove = [this](const std::string& what, bool del) { return remove_item(what, del); };
    o.limit = [this](const std::string& what, std::uint64_t up, std::uint64_t down) {
        return limit_item(what, up, down);
    };
    o.select = [this](const std::string& what, const std::vector<std::size_t>& files, bool wanted) {
        return select_item(what, files, wanted);
    };
    o.session = [this] {
        RpcSessionInfo s;
        s.version = std::string("p2pnode ") + version();
        s.peer_port = session_.port();
        s.download_dir = absolute_dir(data_root());
        s.encryption = cfg_.encryption == EncryptionMode::require   ? "required"
                       : cfg_.encryption == EncryptionMode::prefer  ? "preferred"
                       : cfg_.encryption == EncryptionMode::disable ? "disabled"
                                                                    : "tolerated";
        s.up_limit = session_.max_upload_rate();
        s.down_limit = session_.max_download_rate();
        s.utp = cfg_.utp;
        s.dht = dht_ != nullptr;
        s.lsd = lsd_ != nullptr;
        s.peer_limit = cfg_.max_connections;
        return s;
    };
    o.set_session_limits = [this](std::uint64_t up, std::uint64_t down) { session_.set_rate_limits(up, down); };
    o.free_space = [](const std::string& path) -> Result<std::uint64_t> {
        std::error_code ec;
        const fs::space_info sp = fs::space(path, ec);
        if (ec) return make_error(path, ec.message());
        return static_cast<std::uint64_t>(sp.available);
    };
    o.quit = [this] { loop_.defer([this] { quit(0, ""); }); };
    o.loop_now_ms = [this] { return loop_.now_ms(); };
    return o;
}

} // namespace p2p
