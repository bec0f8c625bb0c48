// RpcMethods, torrent-get's fields: one torrent's row in Transmission's names and units (rpc-spec, rpc-version
// 15): what transmission-remote -l, -i, -f, -pi and -it read. A field p2pnode has no value for is left out (as
// Transmission does with names it does not know), so a client shows nothing rather than a made-up number.
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "node/rpc_methods.hpp"

namespace p2p {

namespace {

using Json = nlohmann::json;

int status_code(const RpcTorrentInfo& t) {
    if (t.paused || t.phase == TorrentPhase::failed) return 0; // stopped
    if (!t.has_metadata) return 4;
    switch (t.phase) {
    case TorrentPhase::checking: return 2;
    case TorrentPhase::seeding: return 6;
    default: return 4;
    }
}

// Transmission's peer flags (a subset we know): D/d downloading from / interested in a peer choking us, U/u
// uploading to / interested peer we choke, K unchoked us but we are not interested, ? we unchoke an uninterested
// peer, E encrypted, T uTP, I incoming.
std::string flag_str(const Torrent::PeerSummary& p) {
    std::string f;
    if (p.am_interested)
        f += p.peer_choking ? 'd' : 'D';
    else if (!p.peer_choking)
        f += 'K';
    if (p.peer_interested)
        f += p.am_choking ? 'u' : 'U';
    else if (!p.am_choking)
        f += '?';
    if (p.encrypted) f += 'E';
    if (p.utp) f += 'T';
    if (p.incoming) f += 'I';
    return f;
}

// The printable client prefix of an Azureus-style peer id ("-TR3000-"), else empty.
std::string client_name(const std::string& peer_id) {
    if (peer_id.size() < 8 || peer_id[0] != '-' || peer_id[7] != '-') return "";
    for (std::size_t i = 1; i < 7; ++i)
        if (!std::isalnum(static_cast<unsigned char>(peer_id[i]))) return "";
    return peer_id.substr(1, 6);
}

std::string host_of(const std::string& url) {
    auto s = url.find("://");
    std::string rest = s == std::string::npos ? url : url.substr(s + 3);
    return rest.substr(0, rest.find('/'));
}

} // namespace

Json RpcMethods::torrent_fields(const RpcTorrentInfo& t, const std::vector<std::string>& fields) {
    Json o = Json::object();
    const std::uint64_t left = t.total > t.have ? t.total - t.have : 0;
    std::vector<Torrent::PeerSummary> peers;
    bool peers_read = false;
    auto peer_list = [&]() -> const std::vector<Torrent::PeerSummary>& {
        if (!peers_read && ops_.peers && t.has_metadata)
            if (auto p = ops_.peers(t.hash)) peers = std::move(*p);
        peers_read = true;
        return peers;
    };
    std::vector<FileProgress> files;
    bool files_read = false;
    auto file_list = [&]() -> const std::vector<FileProgress>& {
        if (!files_read && ops_.files && t.has_metadata)
            if (auto f = ops_.files(t.hash)) files = std::move(*f);
        files_read = true;
        return files;
    };
    const Limits lim = limits_.count(t.hash) ? limits_[t.hash]
                                             : Limits{t.up_limit / kSpeedUnit, t.down_limit / kSpeedUnit,
                                                      t.up_limit > 0, t.down_limit > 0};
    for (const auto& k : fields) {
        if (k == "id")
            o[k] = id_of(t.hash);
        else if (k == "name")
            o[k] = t.name;
        else if (k == "hashString")
            o[k] = t.hash;
        else if (k == "status")
            o[k] = status_code(t);
        else if (k == "error")
            o[k] = t.error.empty() ? 0 : 3; // 3: local error
        else if (k == "errorString")
            o[k] = t.error;
        else if (k == "percentDone")
            o[k] = t.total ? static_cast<double>(t.have) / static_cast<double>(t.total) : 0.0;
        else if (k == "metadataPercentComplete")
            o[k] = t.has_metadata ? 1.0 : 0.0;
        else if (k == "rateDownload")
            o[k] = static_cast<std::uint64_t>(t.down_rate);
        else if (k == "rateUpload")
            o[k] = static_cast<std::uint64_t>(t.up_rate);
        else if (k == "eta") {
            if (!t.has_metadata || left == 0 || t.paused)
                o[k] = -1; // not applicable
            else if (t.down_rate >= 1)
                o[k] = static_cast<std::int64_t>(static_cast<double>(left) / t.down_rate);
            else
                o[k] = -2; // unknown
        } else if (k == "peersConnected")
            o[k] = t.peers;
        else if (k == "peersGettingFromUs" || k == "peersSendingToUs") {
            std::size_t n = 0;
            for (const auto& p : peer_list())
                n += k == "peersGettingFromUs" ? (!p.am_choking && p.peer_interested)
                                               : (!p.peer_choking && p.am_interested);
            o[k] = n;
        } else if (k == "totalSize" || k == "sizeWhenDone")
            o[k] = t.total;
        else if (k == "leftUntilDone")
            o[k] = left;
        else if (k == "haveValid")
            o[k] = t.have;
        else if (k == "haveUnchecked" || k == "queuePosition" || k == "bandwidthPriority")
            o[k] = 0;
        else if (k == "uploadedEver")
            o[k] = t.uploaded;
        else if (k == "downloadedEver")
            o[k] = t.downloaded;
        else if (k == "uploadRatio")
            o[k] = t.downloaded ? static_cast<double>(t.uploaded) / static_cast<double>(t.downloaded)
                                : (t.uploaded ? -2.0 : -1.0);
        else if (k == "isFinished")
            o[k] = false; // p2pnode never stops seeding by itself
        else if (k == "isStalled")
            o[k] = false;
        else if (k == "isPrivate")
            o[k] = t.is_private;
        else if (k == "downloadDir")
            o[k] = t.download_dir;
        else if (k == "addedDate")
            o[k] = added_.count(t.hash) ? added_[t.hash] : 0;
        else if (k == "magnetLink")
            o[k] = t.magnet;
        else if (k == "pieceCount")
            o[k] = t.piece_count;
        else if (k == "pieceSize")
            o[k] = t.piece_size;
        else if (k == "downloadLimit")
            o[k] = lim.down;
        else if (k == "downloadLimited")
            o[k] = lim.down_on;
        else if (k == "uploadLimit")
            o[k] = lim.up;
        else if (k == "uploadLimited")
            o[k] = lim.up_on;
        else if (k == "honorsSessionLimits")
            o[k] = true;
        else if (k == "peer-limit")
            o[k] = TorrentConfig{}.max_peers;
        else if (k == "seedRatioMode")
            o[k] = 2; // unlimited
        else if (k == "seedRatioLimit")
            o[k] = 0.0;
        else if (k == "recheckProgress")
            o[k] = 0.0;
        else if (k == "comment" || k == "creator")
            o[k] = "";
        else if (k == "webseeds")
            o[k] = Json::array();
        else if (k == "webseedsSendingToUs")
            o[k] = 0;
        else if (k == "files") {
            Json a = Json::array();
            for (const auto& fp : file_list())
                a.push_back({{"name", t.multi_file ? t.name + "/" + fp.path : fp.path},
                             {"length", fp.size},
                             {"bytesCompleted", fp.done}});
            o[k] = std::move(a);
        } else if (k == "fileStats") {
            Json a = Json::array();
            for (const auto& fp : file_list())
                a.push_back({{"bytesCompleted", fp.done}, {"wanted", fp.wanted}, {"priority", 0}});
            o[k] = std::move(a);
        } else if (k == "wanted" || k == "priorities") { // one priority for all: normal
            Json a = Json::array();
            for (const auto& fp : file_list()) a.push_back(k == "wanted" ? (fp.wanted ? 1 : 0) : 0);
            o[k] = std::move(a);
        } else if (k == "peers") {
            Json a = Json::array();
            for (const auto& p : peer_list()) {
                const auto colon = p.address.rfind(':');
                std::string ip = p.address.substr(0, colon);
                if (ip.size() > 1 && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
                a.push_back({{"address", ip},
                             {"port", colon == std::string::npos ? 0 : std::atoi(p.address.c_str() + colon + 1)},
                             {"clientName", client_name(p.peer_id)},
                             {"progress", p.have},
                             {"flagStr", flag_str(p)},
                             {"rateToClient", static_cast<std::uint64_t>(p.down_rate)},
                             {"rateToPeer", static_cast<std::uint64_t>(p.up_rate)},
                             {"isEncrypted", p.encrypted},
                             {"isIncoming", p.incoming},
                             {"isUTP", p.utp},
                             {"clientIsChoked", p.am_choking},
                             {"clientIsInterested", p.am_interested},
                             {"peerIsChoked", p.peer_choking},
                             {"peerIsInterested", p.peer_interested},
                             {"isDownloadingFrom", !p.peer_choking && p.am_interested},
                             {"isUploadingTo", !p.am_choking && p.peer_interested}});
            }
            o[k] = std::move(a);
        } else if (k == "trackers" || k == "trackerStats") {
            Json a = Json::array();
            const std::vector<TrackerStatus> ts = ops_.trackers ? ops_.trackers(t.hash) : std::vector<TrackerStatus>{};
            const std::uint64_t loop_now = ops_.loop_now_ms ? ops_.loop_now_ms() : 0;
            const std::int64_t now = unix_now_();
            auto unix_at = [&](std::uint64_t ms) -> std::int64_t {
                if (!ms) return 0;
                return now + (static_cast<std::int64_t>(ms) - static_cast<std::int64_t>(loop_now)) / 1000;
            };
            for (std::size_t i = 0; i < ts.size(); ++i) {
                const TrackerStatus& s = ts[i];
                if (k == "trackers") {
                    a.push_back({{"id", i}, {"announce", s.url}, {"scrape", ""}, {"tier", s.tier}});
                    continue;
                }
                const bool answered = s.last_announce_ms != 0;
                a.push_back({{"id", i},
                             {"announce", s.url},
                             {"host", host_of(s.url)},
                             {"tier", s.tier},
                             {"isBackup", false},
                             {"announceState", s.updating           ? 3
                                               : s.next_announce_ms ? 1
                                                                    : 0},
                             {"scrapeState", 0},
                             {"hasAnnounced", answered || !s.last_error.empty()},
                             {"hasScraped", false},
                             {"lastAnnounceSucceeded", s.working},
                             {"lastAnnounceTimedOut", false},
                             {"lastAnnounceResult", s.last_error.empty() ? "Success" : s.last_error},
                             {"lastAnnounceTime", unix_at(s.last_announce_ms)},
                             {"lastAnnounceStartTime", unix_at(s.last_announce_ms)},
                             {"lastAnnouncePeerCount", s.peers},
                             {"nextAnnounceTime", unix_at(s.next_announce_ms)},
                             {"lastScrapeSucceeded", false},
                             {"lastScrapeTimedOut", false},
                             {"lastScrapeResult", ""},
                             {"lastScrapeTime", 0},
                             {"lastScrapeStartTime", 0},
                             {"nextScrapeTime", 0},
                             {"seederCount", s.seeders},
                             {"leecherCount", s.leechers},
                             {"downloadCount", -1},
                             {"scrape", ""}});
            }
            o[k] = std::move(a);
        }
        // Other fields are left out, as Transmission does with names it does not know.
    }
    return o;
}

} // namespace p2p
