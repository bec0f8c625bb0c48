// PeerNode, what every face reads of the items: the rows of the RPC's torrent-get and of the public API's list
// (p2p::Node), the counters of /stats and /metrics, and a tracker re-announce (RPC and API). Built in every
// configuration, the RPC port's (peer_node_rpc.cpp) or not.
#include <filesystem>

#include "base/bytes.hpp"
#include "node/peer_node_impl.hpp"

namespace p2p {

namespace fs = std::filesystem;

std::string PeerNode::absolute_dir(const std::string& dir) {
    std::error_code ec;
    fs::path p = fs::absolute(dir, ec);
    if (ec) return dir;
    std::string s = p.lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

std::vector<RpcTorrentInfo> PeerNode::rpc_torrents() {
    std::vector<RpcTorrentInfo> rows;
    const std::string downloads = absolute_dir(data_root());
    for (auto& [h, it] : items_) {
        if (!it.torrent) continue;
        const TorrentStatus s = it.torrent->status();
        const Metainfo& m = it.torrent->meta();
        RpcTorrentInfo r;
        r.hash = to_hex(h);
        r.name = s.name;
        r.paused = s.paused || it.paused;
        r.phase = s.phase;
        r.total = s.total;
        r.have = s.have_bytes;
        r.downloaded = s.downloaded;
        r.uploaded = s.uploaded;
        r.down_rate = s.down_rate;
        r.up_rate = s.up_rate;
        r.peers = s.peers;
        r.up_limit = s.max_upload_rate;
        r.down_limit = s.max_download_rate;
        if (it.failed || s.phase == TorrentPhase::failed) r.error = s.error.empty() ? "failed" : s.error;
        r.shared_item = !it.share_key.empty() || it.torrent->is_shared_item();
        const auto slash = it.share_key.rfind('/');
        r.download_dir = slash == std::string::npos ? downloads : absolute_dir(it.share_key.substr(0, slash));
        r.is_private = m.is_private;
        r.multi_file = m.multi_file;
        r.piece_count = m.piece_count();
        r.piece_size = static_cast<std::uint64_t>(m.piece_length);
        Magnet mag{h, m.name, {}, {}};
        for (const auto& tier : it.announce_cfg.tiers)
            for (const auto& url : tier) mag.trackers.push_back(url);
        r.magnet = make_magnet(mag);
        rows.push_back(std::move(r));
    }
    for (const auto& f : fetches_.rows()) { // magnets and info hashes: no metainfo yet (BEP 9)
        if (items_.count(f.info_hash)) continue;
        RpcTorrentInfo r;
        r.hash = to_hex(f.info_hash);
        r.name = f.label.empty() ? r.hash : f.label;
        r.has_metadata = false;
        r.paused = f.paused;
        r.peers = f.status.peers;
        r.download_dir = downloads;
        r.magnet = make_magnet(Magnet{f.info_hash, f.label, {}, {}});
        rows.push_back(std::move(r));
    }
    return rows;
}

Result<std::string> PeerNode::reannounce_item(const std::string& what) {
    if (quitting_) return make_error(what, "stopping");
    Item* it = find_item(what);
    if (!it) return not_ours(what);
    if (it->paused || it->stopped_sent) return make_error(it->torrent->meta().name, "stopped: start it first");
    const std::size_t n = it->announcer->reannounce();
    return "reannounced " + it->torrent->meta().name + " to " + std::to_string(n) + " tier(s)";
}

PeerCounters PeerNode::peer_counters() {
    PeerCounters c;
    for (auto& [h, it] : items_) {
        if (!it.torrent) continue;
        const TorrentStatus s = it.torrent->status();
        ++c.torrents;
        if (s.paused || it.paused)
            ++c.paused;
        else if (it.failed || s.phase == TorrentPhase::failed)
            ++c.failed;
        else if (s.phase == TorrentPhase::checking)
            ++c.checking;
        else if (s.phase == TorrentPhase::seeding)
            ++c.seeding;
        else
            ++c.downloading;
        c.peers += s.peers;
        c.uploaded += s.uploaded;
        c.downloaded += s.downloaded;
        c.up_rate += s.up_rate;
        c.down_rate += s.down_rate;
    }
    for (const auto& f : fetches_.rows())
        if (!items_.count(f.info_hash)) ++c.torrents, ++(f.paused ? c.paused : c.fetching);
    c.connections = session_.connection_count();
    c.up_limit = session_.max_upload_rate();
    c.down_limit = session_.max_download_rate();
    return c;
}

} // namespace p2p
