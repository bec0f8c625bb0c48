#include "proto/metainfo.hpp"

#include <algorithm>
#include <set>

#include "crypto/sha.hpp"

namespace p2p {

namespace {
constexpr std::size_t kMaxComponentBytes = 255; // common filesystem NAME_MAX
constexpr std::size_t kMaxPathDepth = 64;
constexpr std::size_t kMaxFiles = 100'000;

Error bad(std::string what) { return make_error("metainfo", std::move(what), Errc::bad_input); }

bool is_power_of_two(std::int64_t v) { return v > 0 && (v & (v - 1)) == 0; }
} // namespace

std::int64_t Metainfo::piece_size(std::uint32_t index) const {
    std::int64_t begin = std::int64_t(index) * piece_length;
    return std::min(piece_length, total_length - begin);
}

std::string Metainfo::relative_path(std::size_t file_index) const {
    if (!multi_file) return name;
    std::string out = name;
    for (const auto& c : files[file_index].path) {
        out += '/';
        out += c;
    }
    return out;
}

Status check_path_component(std::string_view c) {
    auto unsafe = [](std::string what) { return make_error("path", std::move(what), Errc::bad_input); };
    if (c.empty()) return unsafe("empty path component");
    if (c == "." || c == "..") return unsafe("path component '" + std::string(c) + "' is not allowed");
    if (c.size() > kMaxComponentBytes)
        return unsafe("path component longer than " + std::to_string(kMaxComponentBytes) + " bytes");
    for (unsigned char ch : c) {
        if (ch == '/') return unsafe("path component contains '/'");
        if (ch == '\\') return unsafe("path component contains a backslash");
        if (ch == 0) return unsafe("path component contains NUL");
        if (ch < 0x20 || ch == 0x7f) return unsafe("path component contains a control character");
    }
    return ok_status();
}

namespace {

// info.files (BEP 3, multi-file): each file's length and checked path; no duplicate path, no path that is also
// another's folder; the lengths within what the pieces cover.
Status parse_files(const bencode::List& list, std::int64_t max_total, Metainfo& m) {
    const bencode::List* files = &list;
    m.multi_file = true;
    if (files->empty()) return bad("info.files is empty");
    if (files->size() > kMaxFiles) return bad("more than " + std::to_string(kMaxFiles) + " files");
    std::set<std::vector<std::string>> seen;
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < files->size(); ++i) {
        const bencode::Value& f = (*files)[i];
        std::string where = "info.files[" + std::to_string(i) + "]";
        const std::int64_t* flen = f.find_int("length");
        const bencode::List* path = f.find_list("path");
        if (!flen || *flen < 0) return bad(where + ".length missing or negative");
        if (!path || path->empty()) return bad(where + ".path missing or empty");
        if (path->size() > kMaxPathDepth) return bad(where + ".path is too deep");
        FileEntry e;
        for (const bencode::Value& c : *path) {
            if (!c.is_string()) return bad(where + ".path has a non-string component");
            if (auto st = check_path_component(c.as_string()); !st) return bad(where + ".path: " + st.error().what);
            e.path.push_back(c.as_string());
        }
        if (!seen.insert(e.path).second) return bad(where + ".path duplicates an earlier file");
        if (*flen > max_total - offset) return bad("file sizes exceed the pieces' total");
        e.length = *flen;
        e.offset = offset;
        offset += *flen;
        m.files.push_back(std::move(e));
    }
    // A file path that is a prefix of another ("a" and "a/b") would need "a" to be both a file and a folder.
    for (auto it = seen.begin(); it != seen.end(); ++it) {
        auto next = std::next(it);
        if (next != seen.end() && next->size() > it->size() && std::equal(it->begin(), it->end(), next->begin()))
            return bad("a file path is also used as a folder");
    }
    m.total_length = offset;
    return ok_status();
}

Result<Metainfo> parse_info_value(const bencode::Value& info, std::string_view raw_info) {
    if (!info.is_dict()) return bad("info is not a dictionary");
    Metainfo m;
    m.info_bytes.assign(raw_info);
    m.info_hash = sha1(raw_info);

    const std::string* name = info.find_string("name");
    if (!name) return bad("info.name missing or not a string");
    if (auto st = check_path_component(*name); !st) return bad("info.name: " + st.error().what);
    m.name = *name;

    const std::int64_t* plen = info.find_int("piece length");
    if (!plen) return bad("info.piece length missing or not an integer");
    if (!is_power_of_two(*plen) || *plen < kMinPieceLength || *plen > kMaxPieceLength)
        return bad("piece length " + std::to_string(*plen) + " is not a power of two in 16 KiB..64 MiB");
    m.piece_length = *plen;

    const std::string* pieces = info.find_string("pieces");
    if (!pieces) return bad("info.pieces missing or not a string");
    if (pieces->empty() || pieces->size() % kSha1Size)
        return bad("info.pieces length " + std::to_string(pieces->size()) + " is not a positive multiple of 20");
    if (pieces->size() / kSha1Size > kMaxPieces) return bad("more than " + std::to_string(kMaxPieces) + " pieces");
    m.piece_hashes = *pieces;

    if (const std::int64_t* priv = info.find_int("private")) m.is_private = *priv == 1;

    const std::int64_t* length = info.find_int("length");
    const bencode::List* files = info.find_list("files");
    if (length && files) return bad("info has both length and files");
    if (!length && !files) return bad("info has neither length nor files");
    // Totals are bounded by pieces * piece length (< 2^47), so a sum past that is already an error.
    const std::int64_t max_total = std::int64_t(m.piece_count()) * m.piece_length;
    if (length) {
        if (*length < 0) return bad("negative length");
        m.files.push_back(FileEntry{{m.name}, *length, 0});
        m.total_length = *length;
    } else {
        auto st = parse_files(*files, max_total, m);
        if (!st) return st.error();
    }
    std::int64_t expected_pieces = (m.total_length + m.piece_length - 1) / m.piece_length;
    if (m.total_length == 0) return bad("torrent has no data");
    if (expected_pieces != std::int64_t(m.piece_count()))
        return bad("total length " + std::to_string(m.total_length) + " needs " + std::to_string(expected_pieces) +
                   " pieces but info.pieces has " + std::to_string(m.piece_count()));
    return m;
}

bencode::Limits torrent_limits() {
    bencode::Limits lim;
    lim.max_input = kMaxTorrentFileSize;
    lim.max_depth = 100;
    return lim;
}

} // namespace

Result<Metainfo> parse_info_dict(std::string_view info_bytes, std::string_view expected_info_hash) {
    if (info_bytes.size() > kMaxTorrentFileSize) return bad("info dictionary larger than 10 MB");
    auto v = bencode::decode(info_bytes, torrent_limits());
    if (!v) return v.error();
    auto m = parse_info_value(*v, info_bytes);
    if (!m) return m;
    if (!expected_info_hash.empty() && m->info_hash != expected_info_hash)
        return bad("info dictionary does not match the info hash");
    return m;
}

Result<Metainfo> parse_torrent(std::string_view bytes) {
    if (bytes.size() > kMaxTorrentFileSize) return bad(".torrent file larger than 10 MB");
    auto root = bencode::decode(bytes, torrent_limits());
    if (!root) return root.error();
    if (!root->is_dict()) return bad("top level is not a dictionary");
    const bencode::Value* info = root->find("info");
    if (!info) return bad("no info dictionary");
    auto m = parse_info_value(*info, bytes.substr(info->raw_begin, info->raw_end - info->raw_begin));
    if (!m) return m;
    // BEP 12: announce-list supersedes announce when present.
    if (const bencode::List* tiers = root->find_list("announce-list")) {
        for (const bencode::Value& tier : *tiers) {
            if (!tier.is_list()) continue;
            std::vector<std::string> urls;
            for (const bencode::Value& u : tier.as_list())
                if (u.is_string() && !u.as_string().empty()) urls.push_back(u.as_string());
            if (!urls.empty()) m->trackers.push_back(std::move(urls));
        }
    }
    if (m->trackers.empty())
        if (const std::string* a = root->find_string("announce"); a && !a->empty()) m->trackers.push_back({*a});
    // BEP 5: "nodes = [["<host>", <port>], ...]". Entries of another shape are skipped, not fatal: the torrent is
    // still good without them.
    if (const bencode::List* nodes = root->find_list("nodes")) {
        for (const bencode::Value& n : *nodes) {
            if (m->dht_nodes.size() >= kMaxTorrentNodes) break;
            if (!n.is_list() || n.as_list().size() != 2) continue;
            const bencode::Value& host = n.as_list()[0];
            const bencode::Value& port = n.as_list()[1];
            if (!host.is_string() || host.as_string().empty() || host.as_string().size() > 253 || !port.is_int() ||
                port.as_int() <= 0 || port.as_int() > 65535)
                continue;
            m->dht_nodes.emplace_back(host.as_string(), static_cast<std::uint16_t>(port.as_int()));
        }
    }
    return m;
}

std::int64_t default_piece_length(std::int64_t total) {
    std::int64_t pl = 16 * 1024;
    while (pl < 16 * 1024 * 1024 && total / pl > 2000) pl *= 2;
    return pl;
}

std::string build_info_dict(const std::string& name, std::int64_t piece_length, const std::string& piece_hashes,
                            const std::vector<TorrentFileInput>& files, bool multi_file, bool is_private) {
    bencode::Dict info;
    if (multi_file) {
        bencode::List list;
        for (const auto& f : files) {
            bencode::Dict fd;
            fd["length"] = bencode::Value(f.length);
            bencode::List path;
            for (const auto& c : f.path) path.emplace_back(c);
            fd["path"] = bencode::Value(std::move(path));
            list.emplace_back(std::move(fd));
        }
        info["files"] = bencode::Value(std::move(list));
    } else {
        info["length"] = bencode::Value(files.empty() ? 0 : files.front().length);
    }
    info["name"] = bencode::Value(name);
    info["piece length"] = bencode::Value(piece_length);
    info["pieces"] = bencode::Value(piece_hashes);
    if (is_private) info["private"] = bencode::Value(1);
    return bencode::encode(bencode::Value(std::move(info)));
}

std::string build_torrent(const std::string& info_dict, const std::vector<std::string>& trackers) {
    // Encode the outer dict by hand so the info bytes are embedded exactly as hashed.
    std::string out = "d";
    auto put_str = [&out](std::string_view s) {
        out += std::to_string(s.size());
        out += ':';
        out += s;
    };
    if (!trackers.empty()) {
        put_str("announce");
        put_str(trackers.front());
        if (trackers.size() > 1) {
            put_str("announce-list");
            out += 'l'; // one tracker per tier: clients try them in order (BEP 12)
            for (const auto& t : trackers) {
                out += 'l';
                put_str(t);
                out += 'e';
            }
            out += 'e';
        }
    }
    put_str("created by");
    put_str("p2pnode " P2PNODE_VERSION);
    put_str("info");
    out += info_dict;
    out += 'e';
    return out;
}

} // namespace p2p
