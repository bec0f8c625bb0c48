// PeerNode, downloads (--get and the console's `get`): WHAT is a .torrent file, a magnet link, an info hash (40 hex
// or 32 base32) or a catalog name; a name is looked up, a hash's metadata fetched from the swarm (BEP 9), and
// each then continues exactly like a .torrent download.
#include "node/peer_node_impl.hpp"

#include <filesystem>

#include "base/bytes.hpp"
#include "base/read_file.hpp"

namespace p2p {

namespace fs = std::filesystem;

PeerNode::AddKind PeerNode::add_kind(const std::string& what) {
    std::error_code ec;
    if (fs::is_regular_file(what, ec)) return AddKind::torrent_file;
    if (what.rfind("magnet:", 0) == 0) return AddKind::magnet;
    if (parse_info_hash_arg(what)) return AddKind::info_hash;
    // Not a catalog name either: most likely a .torrent path with a typo, so it is read as one (and says that).
    if (!udp::valid_name(what) || what.find('/') != std::string::npos) return AddKind::torrent_file;
    return AddKind::name;
}

bool PeerNode::add_download(const std::string& what) {
    switch (add_kind(what)) {
    case AddKind::magnet: {
        auto m = parse_magnet(what);
        if (!m) {
            error_line(what + ": " + m.error().str());
            return false;
        }
        return fetch_metadata(m->info_hash, m->display_name, m->trackers, magnet_peers(m->peers));
    }
    case AddKind::info_hash: return fetch_metadata(*parse_info_hash_arg(what), "", {});
    case AddKind::name: return lookup_name(what);
    case AddKind::torrent_file: break;
    }
    return add_torrent_file(what);
}

bool PeerNode::add_torrent_file(const std::string& what) {
    auto bytes = read_file(what, kMaxTorrentFileSize);
    if (!bytes) {
        error_line(bytes.error().str());
        return false;
    }
    auto meta = parse_torrent(*bytes);
    if (!meta) {
        error_line(what + ": " + meta.error().str());
        return false;
    }
    start_download(std::move(*meta), {});
    return true;
}

void PeerNode::start_download(Metainfo meta, const std::vector<sockaddr_storage>& hint,
                              std::vector<HandedPeer> handed) {
    auto close_handed = [&] {
        for (auto& h : handed) // we may be inside one of their callbacks (the fetch's last piece)
            if (h.conn) {
                h.conn->close();
                loop_.defer_delete(std::move(h.conn));
            }
    };
    if (items_.count(meta.info_hash)) {
        say("already have %s %s\n", meta.name.c_str(), to_hex(meta.info_hash).c_str());
        return close_handed();
    }
    std::vector<bool> wanted;
    if (!cfg_.select_files.empty() && (adding_cli_gets_ || cli_get_hashes_.count(meta.info_hash))) {
        auto sel = select_files(meta, cfg_.select_files);
        if (!sel) {
            download_failed(sel.error().str());
            return close_handed();
        }
        wanted = std::move(*sel);
        std::size_t n = 0;
        for (bool b : wanted) n += b;
        say("selected %zu of %zu files of %s\n", n, wanted.size(), meta.name.c_str());
    }
    say("downloading %s %s into %s\n", meta.name.c_str(), to_hex(meta.info_hash).c_str(), data_root().c_str());
    const std::string hash = meta.info_hash;
    if (auto p = pending_adds_.find(hash); p != pending_adds_.end() && !p->second.files.empty()) {
        // An API add's selection (node.hpp AddOptions), known before the metainfo was.
        for (std::size_t i : p->second.files)
            if (i >= meta.files.size()) {
                pending_adds_.erase(p);
                download_failed(meta.name + ": no file " + std::to_string(i) + " (it has " +
                                std::to_string(meta.files.size()) + ")");
                return close_handed();
            }
        wanted.assign(meta.files.size(), false);
        for (std::size_t i : p->second.files) wanted[i] = true;
    }
    Torrent* t = add(std::move(meta), false, true, false, data_root(), {}, std::move(wanted));
    if (!t) return close_handed();
    t->adopt_handed(std::move(handed)); // before the hint, so these peers are not dialled a second time
    if (!hint.empty()) t->add_candidates(hint);
    apply_pending_add(hash);
}

std::optional<std::string> PeerNode::parse_info_hash_arg(const std::string& what) {
    if (what.size() == 40) {
        std::string raw;
        if (from_hex(what, raw) && raw.size() == 20) return raw;
    }
    if (what.size() == 32) {
        auto m = parse_magnet("magnet:?xt=urn:btih:" + what);
        if (m) return m->info_hash;
    }
    return std::nullopt;
}

bool PeerNode::lookup_name(const std::string& name) {
    auto st = lookups_.start(name, [this, cli = adding_cli_gets_](Result<CatalogHit> r) {
        if (quitting_) return;
        if (!r) return download_failed(r.error().str());
        if (cli) cli_get_hashes_.insert(r->info_hash);
        say("found %s %s (%llu bytes)\n", r->name.c_str(), to_hex(r->info_hash).c_str(),
            static_cast<unsigned long long>(r->total_size));
        if (!fetch_metadata(r->info_hash, r->name, {})) download_failed("");
    });
    if (!st) {
        error_line(st.error().str());
        return false;
    }
    say("looking up %s\n", name.c_str());
    return true;
}

void PeerNode::download_failed(const std::string& msg) {
    if (!msg.empty()) error_line(msg);
    emit(NodeEventKind::error, "", "", msg.empty() ? last_error_ : msg);
    any_failed_ = true;
    check_done();
}

std::vector<sockaddr_storage> PeerNode::magnet_peers(const std::vector<std::string>& peers) {
    std::vector<sockaddr_storage> out;
    for (const auto& p : peers) {
        const auto colon = p.rfind(':');
        std::string host = colon == std::string::npos ? p : p.substr(0, colon);
        const std::uint16_t port = colon == std::string::npos ? 0 : parse_port(std::string_view(p).substr(colon + 1));
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
        sockaddr_storage ss{};
        if (port != 0 && (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
                          uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0))
            out.push_back(ss);
        else
            log_info("peer", "magnet x.pe " + p + ": not an IP address and port; skipped");
    }
    return out;
}

bool PeerNode::fetch_metadata(const std::string& hash, const std::string& label,
                              const std::vector<std::string>& trackers, const std::vector<sockaddr_storage>& peers) {
    const std::string hex = to_hex(hash);
    if (items_.count(hash)) {
        say("already have %s %s\n", label.c_str(), hex.c_str());
        return true;
    }
    if (fetches_.has(hash)) return true;
    if (adding_cli_gets_) cli_get_hashes_.insert(hash);
    std::uint64_t give_up_ms = 0;
    if (cfg_.exit_when_done && cfg_.timeout_s > 0) {
        // Due a moment before the run's own deadline (which counts from the start too), so this clearer
        // message wins.
        const auto limit = static_cast<std::uint64_t>(cfg_.timeout_s * 1000);
        const std::uint64_t used = loop_.now_ms() - born_ms_ + 50;
        give_up_ms = limit > used ? limit - used : 1;
    }
    if (auto st = fetches_.start(hash, label, trackers, give_up_ms, peers); !st) {
        error_line(st.error().str());
        return false;
    }
    dht_track(hash, false); // a magnet names no private torrent: its peers may come from the DHT
    lsd_add(hash, false);   // and from the LAN
    say("fetching metadata %s%s%s\n", hex.c_str(), label.empty() ? "" : " ", label.c_str());
    emit(NodeEventKind::added, hash, label);
    return true;
}

void PeerNode::metadata_done(FetchedMetadata m) {
    if (quitting_) return;
    if (!m.meta) {
        lsd_remove(m.info_hash); // the fetch is over: nothing more to find on the LAN
        pending_adds_.erase(m.info_hash);
        emit(NodeEventKind::error, m.info_hash, "", m.meta.error().str());
        any_failed_ = true;
        error_line(m.meta.error().str());
        check_done();
        return;
    }
    Metainfo meta = std::move(*m.meta);
    meta.trackers = std::move(m.tiers);
    say("metadata %s %s (%zu bytes from peers)\n", to_hex(m.info_hash).c_str(), meta.name.c_str(),
        meta.info_bytes.size());
    emit(NodeEventKind::metadata, m.info_hash, meta.name);
    fetched_now_ = true;
    start_download(std::move(meta), m.hint, std::move(m.handed));
    fetched_now_ = false;
}

} // namespace p2p
