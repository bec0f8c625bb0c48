// The public API (include/p2pnode/node.hpp): p2p::Node over a PeerNode. Every call is one of the operations the
// console and the RPC already use (add_download/start_download, pause_item, resume_item, remove_item,
// verify_item, limit_item, select_item, rpc_torrents); this file only turns their internal values into the
// public ones and delivers events. No exception leaves it: the public functions catch what a bug might throw and
// answer it as an error value.
#include <exception>
#include <filesystem>

#include "base/bytes.hpp"
#include "base/read_file.hpp"
#include "node/peer_node_impl.hpp"
#include "p2pnode/p2pnode.hpp"

namespace p2p {

const char* state_name(TorrentState s) {
    switch (s) {
    case TorrentState::fetching_metadata: return "fetching metadata";
    case TorrentState::checking: return "checking";
    case TorrentState::downloading: return "downloading";
    case TorrentState::seeding: return "seeding";
    case TorrentState::paused: return "paused";
    case TorrentState::failed: return "failed";
    }
    return "?";
}

const char* event_name(NodeEventKind k) {
    switch (k) {
    case NodeEventKind::added: return "added";
    case NodeEventKind::metadata: return "metadata";
    case NodeEventKind::complete: return "complete";
    case NodeEventKind::error: return "error";
    case NodeEventKind::removed: return "removed";
    case NodeEventKind::stopped: return "stopped";
    }
    return "?";
}

namespace {

NodeErrc public_code(Errc c) {
    switch (c) {
    case Errc::bad_input:
    case Errc::bad_name: return NodeErrc::bad_input;
    case Errc::not_found: return NodeErrc::not_found;
    case Errc::refused:
    case Errc::rejected: return NodeErrc::refused;
    default: return NodeErrc::io;
    }
}

NodeError public_error(const Error& e, NodeErrc code) { return NodeError{code, e.op, e.what}; }

template <class T>
NodeResult<T> guarded(const std::string& op, const std::function<NodeResult<T>()>& fn) {
    try {
        return fn();
    } catch (const std::exception& e) {
        return NodeError{NodeErrc::io, op, std::string("internal error: ") + e.what()};
    }
}

// The node's operations say not_found for an unknown torrent and bad_input for a bad file index; what carries no
// code of its own ("stopping", "already checking" without one) is a refusal.
NodeResult<std::string> from_op(Result<std::string> r) {
    if (r) return std::move(*r);
    const Errc c = r.error().code;
    return public_error(r.error(), c == Errc::unspecified ? NodeErrc::refused : public_code(c));
}

TorrentSnapshot snapshot_of(const RpcTorrentInfo& r) {
    TorrentSnapshot t;
    t.hash = r.hash;
    t.name = r.name;
    t.total_bytes = r.total;
    t.have_bytes = r.have;
    t.downloaded = r.downloaded;
    t.uploaded = r.uploaded;
    t.down_rate = r.down_rate;
    t.up_rate = r.up_rate;
    t.peers = r.peers;
    t.up_limit = r.up_limit;
    t.down_limit = r.down_limit;
    t.error = r.error;
    t.save_dir = r.download_dir;
    t.magnet = r.magnet;
    t.shared_item = r.shared_item;
    if (!r.has_metadata)
        t.state = r.paused ? TorrentState::paused : TorrentState::fetching_metadata;
    else if (!r.error.empty() || r.phase == TorrentPhase::failed)
        t.state = TorrentState::failed;
    else if (r.paused)
        t.state = TorrentState::paused;
    else if (r.phase == TorrentPhase::checking)
        t.state = TorrentState::checking;
    else if (r.phase == TorrentPhase::seeding)
        t.state = TorrentState::seeding;
    else
        t.state = TorrentState::downloading;
    return t;
}

} // namespace

// ---- PeerNode's side

void PeerNode::emit(NodeEventKind kind, const std::string& raw_hash, const std::string& name, std::string message) {
    if (!on_event_) return;
    NodeEvent ev{kind, raw_hash.size() == 20 ? to_hex(raw_hash) : raw_hash, name, std::move(message)};
    // After the current callback returns: the handler may call back into the node (node.hpp).
    loop_.defer([this, ev = std::move(ev)] {
        if (on_event_) on_event_(ev);
    });
}

void PeerNode::apply_pending_add(const std::string& hash) {
    auto p = pending_adds_.find(hash);
    if (p == pending_adds_.end()) return;
    const bool paused = p->second.paused;
    pending_adds_.erase(p);
    if (paused) (void)pause_item(to_hex(hash));
}

// ---- Node

Node::Node(std::unique_ptr<PeerNode> node) : node_(std::move(node)) {}

Node::~Node() = default;

NodeResult<std::unique_ptr<Node>> Node::start(const PeerNodeConfig& config, uv_loop_s* loop) {
    return guarded<std::unique_ptr<Node>>("start", [&]() -> NodeResult<std::unique_ptr<Node>> {
        PeerNodeConfig cfg = config;
        cfg.console = false; // stdin is the host's
        auto peer = std::make_unique<PeerNode>(cfg, loop, true);
        bool listening = false;
        if (int rc = peer->start(listening); rc >= 0) {
            const Error& e = peer->start_error();
            // A memory budget below the minimum (2) or a bad --get is the caller's input; a folder or a port is io.
            const NodeErrc code = rc == 2 || e.code == Errc::bad_input ? NodeErrc::bad_input : NodeErrc::io;
            return NodeError{code, e.op, e.what};
        }
        return std::unique_ptr<Node>(new Node(std::move(peer)));
    });
}

int Node::run() {
    if (node_->loop_.borrowed()) return -1;
    node_->loop_.run();
    // teardown stopped the loop in the turn that queued the `stopped` event and stop()'s callback: one more
    // turn delivers them (the idle handle keeps it from blocking while they are queued).
    uv_run(node_->loop_.get(), UV_RUN_NOWAIT);
    return node_->exit_code_;
}

std::uint16_t Node::port() const { return node_->session_.port(); }

NodeResult<std::string> Node::add(const std::string& what, const AddOptions& options) {
    return guarded<std::string>("add " + what, [&]() -> NodeResult<std::string> {
        PeerNode& n = *node_;
        if (n.quitting_) return NodeError{NodeErrc::refused, "add " + what, "stopping"};
        std::error_code ec;
        std::string hash;
        std::vector<sockaddr_storage> peers;
        if (what.rfind("magnet:", 0) == 0) {
            auto m = parse_magnet(what);
            if (!m) return NodeError{NodeErrc::bad_input, what, m.error().str()};
            hash = m->info_hash;
            peers = n.magnet_peers(m->peers);
        } else if (auto h = PeerNode::parse_info_hash_arg(what)) {
            hash = *h;
        } else if (std::filesystem::is_regular_file(what, ec)) {
            auto bytes = read_file(what, kMaxTorrentFileSize);
            if (!bytes) return public_error(bytes.error(), NodeErrc::io);
            return add_metainfo(*bytes, options);
        }
        if (!hash.empty() && (n.items_.count(hash) || n.fetches_.has(hash))) {
            // Already here: the magnet's x.pe peers are still news (a torrent that lost its peers dials them).
            if (auto it = n.items_.find(hash); it != n.items_.end() && it->second.torrent && !peers.empty())
                it->second.torrent->add_candidates(peers);
            else if (!peers.empty())
                n.fetches_.add_candidates(hash, peers);
            return to_hex(hash);
        }
        if (!hash.empty()) n.pending_adds_[hash] = PeerNode::PendingAdd{options.paused, options.files};
        n.last_error_.clear();
        if (!n.add_download(what)) {
            if (!hash.empty()) n.pending_adds_.erase(hash);
            return NodeError{NodeErrc::bad_input, what, n.last_error_.empty() ? "not started" : n.last_error_};
        }
        if (!hash.empty() && options.paused && n.fetches_.has(hash)) {
            // A magnet added paused fetches nothing until resumed (Transmission's habit); the torrent that
            // follows the metadata then starts as the resume asked.
            n.pending_adds_[hash].paused = false;
            (void)n.pause_item(to_hex(hash));
        }
        if (hash.empty() && (options.paused || !options.files.empty()))
            return NodeError{NodeErrc::bad_input, what,
                             "a catalog name is being looked up: choose files and pause once it is added"};
        return hash.empty() ? std::string() : to_hex(hash);
    });
}

NodeResult<std::string> Node::add_metainfo(const std::string& torrent_bytes, const AddOptions& options) {
    return guarded<std::string>("add metainfo", [&]() -> NodeResult<std::string> {
        PeerNode& n = *node_;
        if (n.quitting_) return NodeError{NodeErrc::refused, "add metainfo", "stopping"};
        auto meta = parse_torrent(torrent_bytes);
        if (!meta) return NodeError{NodeErrc::bad_input, "add metainfo", meta.error().str()};
        const std::string hash = meta->info_hash;
        if (n.items_.count(hash)) return to_hex(hash);
        for (std::size_t i : options.files)
            if (i >= meta->files.size())
                return NodeError{NodeErrc::bad_input, meta->name,
                                 "no file " + std::to_string(i) + " (it has " + std::to_string(meta->files.size()) +
                                     ")"};
        n.pending_adds_[hash] = PeerNode::PendingAdd{options.paused, options.files};
        n.start_download(std::move(*meta), {});
        n.pending_adds_.erase(hash); // used by start_download, or it did not start
        if (!n.items_.count(hash)) return NodeError{NodeErrc::io, "add metainfo", n.last_error_};
        return to_hex(hash);
    });
}

std::vector<TorrentSnapshot> Node::torrents() {
    std::vector<TorrentSnapshot> out;
    try {
        for (const auto& r : node_->rpc_torrents()) {
            TorrentSnapshot t = snapshot_of(r);
            std::string raw;
            if (from_hex(r.hash, raw))
                if (auto it = node_->items_.find(raw); it != node_->items_.end() && it->second.torrent) {
                    const Torrent& tor = *it->second.torrent;
                    const std::uint64_t wanted = tor.wanted_bytes(), left = tor.left_bytes();
                    t.progress = wanted ? static_cast<double>(wanted - std::min(left, wanted)) / wanted : 1.0;
                    if (left == 0)
                        t.eta_s = 0;
                    else if (t.down_rate > 0)
                        t.eta_s = static_cast<std::int64_t>(static_cast<double>(left) / t.down_rate);
                }
            out.push_back(std::move(t));
        }
    } catch (const std::exception&) {
        // A snapshot is best effort: what was gathered so far.
    }
    return out;
}

NodeResult<TorrentSnapshot> Node::torrent(const std::string& hash) {
    for (auto& t : torrents())
        if (t.hash == hash) return t;
    return NodeError{NodeErrc::not_found, hash, PeerNode::kNotOurs};
}

NodeResult<std::vector<FileSnapshot>> Node::files(const std::string& hash) {
    return guarded<std::vector<FileSnapshot>>(hash, [&]() -> NodeResult<std::vector<FileSnapshot>> {
        PeerNode::Item* it = node_->find_item(hash);
        if (!it || !it->torrent)
            return NodeError{NodeErrc::not_found, hash, std::string(PeerNode::kNotOurs) + " (or no metadata yet)"};
        std::vector<FileSnapshot> out;
        for (const auto& f : it->torrent->files()) out.push_back(FileSnapshot{f.path, f.size, f.done, f.wanted});
        return out;
    });
}

NodeResult<std::string> Node::pause(const std::string& hash) {
    return guarded<std::string>("pause " + hash, [&] { return from_op(node_->pause_item(hash)); });
}
NodeResult<std::string> Node::resume(const std::string& hash) {
    return guarded<std::string>("resume " + hash, [&] { return from_op(node_->resume_item(hash)); });
}
NodeResult<std::string> Node::remove(const std::string& hash, bool delete_data) {
    return guarded<std::string>("remove " + hash, [&] { return from_op(node_->remove_item(hash, delete_data)); });
}
NodeResult<std::string> Node::verify(const std::string& hash) {
    return guarded<std::string>("verify " + hash, [&] { return from_op(node_->verify_item(hash)); });
}
NodeResult<std::string> Node::reannounce(const std::string& hash) {
    return guarded<std::string>("reannounce " + hash, [&] { return from_op(node_->reannounce_item(hash)); });
}
NodeResult<std::string> Node::set_limits(const std::string& hash, std::uint64_t up, std::uint64_t down) {
    return guarded<std::string>("limit " + hash, [&] { return from_op(node_->limit_item(hash, up, down)); });
}
void Node::set_global_limits(std::uint64_t up, std::uint64_t down) { node_->session_.set_rate_limits(up, down); }
NodeResult<std::string> Node::select_files(const std::string& hash, const std::vector<std::size_t>& files,
                                           bool wanted) {
    return guarded<std::string>("select " + hash, [&] { return from_op(node_->select_item(hash, files, wanted)); });
}

void Node::on_event(std::function<void(const NodeEvent&)> handler) { node_->on_event_ = std::move(handler); }

void Node::stop(std::function<void(int)> done) {
    PeerNode& n = *node_;
    if (n.torn_down_) {
        if (done) n.loop_.defer([&n, done = std::move(done)] { done(n.exit_code_); });
        return;
    }
    if (done) n.on_stopped_ = std::move(done);
    // Not from inside the caller's callback stack: quit closes connections whose callbacks may be running.
    n.loop_.defer([&n] { n.quit(n.exit_code_, ""); });
}

} // namespace p2p
