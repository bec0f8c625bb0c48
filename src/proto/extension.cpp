// BEP 10 extension handshake, BEP 9 ut_metadata and BEP 11 ut_pex codecs (see proto/extension.hpp).
#include "proto/extension.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/bytes.hpp"
#include "crypto/sha.hpp"
#include "proto/bencode.hpp"

namespace p2p::ext {

namespace {

// Extension payloads are small flat dictionaries; these limits keep a hostile payload from costing more than a
// few thousand values of work even though the connection already caps its size.
constexpr bencode::Limits kPayloadLimits{/*max_depth=*/16, /*max_tokens=*/8192, /*max_input=*/1u << 20};
// BEP 10 "v": we keep at most this much of the peer's client name (it is only ever logged or shown).
constexpr std::size_t kMaxClientName = 100;
// BEP 11: compact IPv4 peer = 4 address bytes + 2 port bytes; IPv6 = 16 + 2 (same layout as BEP 23 / BEP 7).
constexpr std::size_t kPexV4Size = 6;
constexpr std::size_t kPexV6Size = 18;

Error bad(const char* op, std::string what) { return make_error(op, std::move(what), Errc::bad_input); }

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// BEP 10 extension handshake

std::uint8_t ExtHandshake::id_of(std::string_view name) const {
    auto it = m.find(std::string(name));
    return it == m.end() ? 0 : it->second;
}

std::string encode_ext_handshake(const ExtHandshake& hs) {
    bencode::Dict d;
    // "m" is always sent, even empty: it is what makes this an extension handshake to every client we know.
    bencode::Dict m;
    for (const auto& [name, id] : hs.m) m[name] = bencode::Value(std::int64_t{id});
    d["m"] = bencode::Value(std::move(m));
    if (hs.metadata_size > 0) d["metadata_size"] = bencode::Value(hs.metadata_size);
    if (hs.listen_port != 0) d["p"] = bencode::Value(std::int64_t{hs.listen_port});
    if (hs.reqq != 0) d["reqq"] = bencode::Value(std::int64_t{hs.reqq});
    if (!hs.client.empty()) d["v"] = bencode::Value(hs.client);
    if (!hs.yourip.empty()) d["yourip"] = bencode::Value(hs.yourip);
    return bencode::encode(bencode::Value(std::move(d)));
}

Result<ExtHandshake> decode_ext_handshake(std::string_view payload) {
    constexpr const char* op = "ext.handshake";
    auto v = bencode::decode(payload, kPayloadLimits);
    if (!v.ok()) return bad(op, v.error().what);
    if (!v->is_dict()) return bad(op, "not a dictionary");
    ExtHandshake hs;
    if (const bencode::Dict* m = v->find_dict("m")) {
        if (m->size() > kMaxExtensionNames)
            return bad(op, std::to_string(m->size()) + " extension names (limit " + std::to_string(kMaxExtensionNames) +
                               ")");
        for (const auto& [name, id] : *m) {
            if (!id.is_int()) continue; // ill-typed entry: ignore, as for every optional field
            std::int64_t i = id.as_int();
            // BEP 10: the extended message id is one byte; 0 means "disabled".
            if (i < 0 || i > 255)
                return bad(op, "extension id " + std::to_string(i) + " for '" + name + "' is not a byte");
            hs.m[name] = static_cast<std::uint8_t>(i);
        }
    }
    if (const std::int64_t* p = v->find_int("p"); p && *p > 0 && *p <= 65535)
        hs.listen_port = static_cast<std::uint16_t>(*p);
    if (const std::string* c = v->find_string("v")) hs.client = c->substr(0, kMaxClientName);
    if (const std::int64_t* s = v->find_int("metadata_size"); s && *s > 0 && *s <= kMaxMetadataSize)
        hs.metadata_size = *s;
    if (const std::int64_t* q = v->find_int("reqq"); q && *q > 0 && *q <= std::numeric_limits<std::uint32_t>::max())
        hs.reqq = static_cast<std::uint32_t>(*q);
    // BEP 10 "yourip": the compact address (4 or 16 bytes) the sender sees us as; anything else is ignored.
    if (const std::string* ip = v->find_string("yourip"); ip && (ip->size() == 4 || ip->size() == 16)) hs.yourip = *ip;
    return hs;
}

// ---------------------------------------------------------------------------------------------------------------
// BEP 9 ut_metadata

namespace {
std::string metadata_header(MetadataType type, std::uint32_t piece, std::int64_t total_size, bool with_size) {
    bencode::Dict d;
    d["msg_type"] = bencode::Value(std::int64_t{static_cast<std::uint8_t>(type)});
    d["piece"] = bencode::Value(std::int64_t{piece});
    if (with_size) d["total_size"] = bencode::Value(total_size);
    return bencode::encode(bencode::Value(std::move(d)));
}
} // namespace

std::string encode_metadata_request(std::uint32_t piece) {
    return metadata_header(MetadataType::request, piece, 0, false);
}

std::string encode_metadata_reject(std::uint32_t piece) {
    return metadata_header(MetadataType::reject, piece, 0, false);
}

std::string encode_metadata_data(std::uint32_t piece, std::int64_t total_size, std::string_view data) {
    std::string out = metadata_header(MetadataType::data, piece, total_size, true);
    out.append(data); // BEP 9: the piece bytes follow the dictionary, outside it
    return out;
}

Result<MetadataMessage> decode_metadata_message(std::string_view payload) {
    constexpr const char* op = "ut_metadata";
    // The dictionary is a prefix; for data messages the raw piece follows it.
    bencode::Prefix pre = bencode::decode_prefix(payload, kPayloadLimits);
    if (pre.status != Decode::ok) return bad(op, pre.error.what);
    const bencode::Value& d = pre.value;
    if (!d.is_dict()) return bad(op, "not a dictionary");
    const std::int64_t* type = d.find_int("msg_type");
    if (!type) return bad(op, "missing msg_type");
    if (*type < 0 || *type > 2) return bad(op, "unknown msg_type " + std::to_string(*type));
    const std::int64_t* piece = d.find_int("piece");
    if (!piece) return bad(op, "missing piece");
    if (*piece < 0 || *piece > std::numeric_limits<std::uint32_t>::max())
        return bad(op, "piece " + std::to_string(*piece) + " out of range");
    MetadataMessage msg;
    msg.type = static_cast<MetadataType>(*type);
    msg.piece = static_cast<std::uint32_t>(*piece);
    if (msg.type == MetadataType::data) {
        const std::int64_t* total = d.find_int("total_size");
        if (!total) return bad(op, "data message without total_size");
        if (*total <= 0) return bad(op, "total_size " + std::to_string(*total) + " is not positive");
        msg.total_size = *total;
        msg.data = payload.substr(pre.consumed);
        if (msg.data.size() > kMetadataPieceSize)
            return bad(op, "data of " + std::to_string(msg.data.size()) + " bytes exceeds a 16 KiB piece");
    }
    // Request and reject carry nothing after the dictionary; trailing bytes are ignored like unknown keys.
    return msg;
}

std::uint32_t metadata_piece_count(std::int64_t size) {
    // Over our cap there is nothing we would fetch; returning 0 also keeps the count within 32 bits.
    if (size <= 0 || size > kMaxMetadataSize) return 0;
    auto n = static_cast<std::uint64_t>(size);
    return static_cast<std::uint32_t>((n + kMetadataPieceSize - 1) / kMetadataPieceSize);
}

std::size_t metadata_piece_size(std::int64_t size, std::uint32_t piece) {
    std::uint32_t count = metadata_piece_count(size);
    if (piece >= count) return 0;
    if (piece + 1 < count) return kMetadataPieceSize;
    return static_cast<std::size_t>(size) - std::size_t{piece} * kMetadataPieceSize;
}

// ---------------------------------------------------------------------------------------------------------------
// MetadataAssembler

bool MetadataAssembler::init(std::int64_t size) {
    size_ = 0;
    buf_.clear();
    buf_.shrink_to_fit();
    have_.clear();
    asked_at_.clear();
    if (size <= 0 || size > kMaxMetadataSize) return false;
    size_ = size;
    // Owned here until the assembler is re-initialised or destroyed; at most kMaxMetadataSize bytes.
    buf_.assign(static_cast<std::size_t>(size), '\0');
    have_.assign(piece_count(), false);
    asked_at_.assign(piece_count(), 0);
    return true;
}

bool MetadataAssembler::have(std::uint32_t piece) const { return piece < have_.size() && have_[piece]; }

std::uint32_t MetadataAssembler::next_wanted(std::uint64_t now_ms, std::uint64_t retry_ms) {
    for (std::uint32_t i = 0; i < have_.size(); ++i) {
        if (have_[i]) continue;
        // asked_at_ stores time+1 so that a request made at time 0 is not mistaken for "never asked".
        if (asked_at_[i] != 0) {
            std::uint64_t asked = asked_at_[i] - 1;
            std::uint64_t due = asked > std::numeric_limits<std::uint64_t>::max() - retry_ms
                                    ? std::numeric_limits<std::uint64_t>::max()
                                    : asked + retry_ms;
            if (now_ms < due) continue;
        }
        asked_at_[i] = now_ms == std::numeric_limits<std::uint64_t>::max() ? now_ms : now_ms + 1;
        return i;
    }
    return std::numeric_limits<std::uint32_t>::max();
}

Status MetadataAssembler::add(std::uint32_t piece, std::string_view data) {
    constexpr const char* op = "ut_metadata.add";
    if (!initialized()) return bad(op, "metadata size not known yet");
    if (piece >= have_.size()) return bad(op, "piece " + std::to_string(piece) + " of " + std::to_string(have_.size()));
    std::size_t want = metadata_piece_size(size_, piece);
    if (data.size() != want)
        return bad(op, "piece " + std::to_string(piece) + " has " + std::to_string(data.size()) + " bytes, expected " +
                           std::to_string(want));
    if (have_[piece]) return ok_status(); // duplicate (we asked twice after a timeout): keep the first copy
    std::memcpy(buf_.data() + std::size_t{piece} * kMetadataPieceSize, data.data(), data.size());
    have_[piece] = true;
    return ok_status();
}

bool MetadataAssembler::complete() const {
    return initialized() && std::all_of(have_.begin(), have_.end(), [](bool b) { return b; });
}

bool MetadataAssembler::verify(std::string_view info_hash) {
    if (!complete()) return false;
    if (sha1(buf_) == info_hash) return true;
    // Some peer sent a bad piece and we cannot tell which: forget them all and fetch again.
    std::fill(have_.begin(), have_.end(), false);
    std::fill(asked_at_.begin(), asked_at_.end(), 0);
    return false;
}

// ---------------------------------------------------------------------------------------------------------------
// BEP 11 ut_pex

namespace {

bool unspecified(const udp::CompactPeer& p) {
    std::size_t n = p.v6 ? 16 : 4;
    return std::all_of(p.ip.begin(), p.ip.begin() + n, [](std::uint8_t b) { return b == 0; });
}

// Appends at most kMaxPexPeers peers of one family to `out` (compact form) and, when `flags` is given, the flag
// of each IPv4 peer written (flags[k] belongs to the k-th IPv4 peer of `peers`).
void put_compact(std::string& out, const std::vector<udp::CompactPeer>& peers, bool v6,
                 const std::vector<std::uint8_t>* flags, std::string* flags_out) {
    std::size_t n = 0, k = 0;
    for (const udp::CompactPeer& p : peers) {
        if (p.v6 != v6) continue;
        if (n == kMaxPexPeers) break;
        udp::append_compact_peer(out, p);
        if (flags && k < flags->size()) flags_out->push_back(static_cast<char>((*flags)[k]));
        ++n;
        ++k;
    }
}

// Decodes one compact list; `kept` receives, for each entry, whether it survived (for aligning "added.f").
Status get_compact(const bencode::Value& d, std::string_view key, bool v6, std::vector<udp::CompactPeer>& out,
                   std::vector<bool>* kept) {
    const std::string* s = d.find_string(key);
    if (!s) return ok_status();
    std::size_t size = v6 ? kPexV6Size : kPexV4Size;
    // The key is quoted by appending (not "'" + key): GCC 12 warns falsely (-Wrestrict) on the operator+ form.
    std::string what(key);
    if (s->size() % size)
        return bad("ut_pex", what.append(" is ")
                                 .append(std::to_string(s->size()))
                                 .append(" bytes, not a multiple of ")
                                 .append(std::to_string(size)));
    std::size_t count = s->size() / size;
    if (count > kMaxPexPeers)
        return bad("ut_pex", what.append(" lists ")
                                 .append(std::to_string(count))
                                 .append(" peers (limit ")
                                 .append(std::to_string(kMaxPexPeers))
                                 .append(")"));
    for (std::size_t i = 0; i < count; ++i) {
        udp::CompactPeer p;
        p.v6 = v6;
        std::memcpy(p.ip.data(), s->data() + i * size, size - 2);
        p.port = read_be16(*s, i * size + size - 2);
        bool ok = p.port != 0 && !unspecified(p); // nobody can connect to these
        if (kept) kept->push_back(ok);
        if (ok) out.push_back(p);
    }
    return ok_status();
}

} // namespace

std::string encode_pex(const PexMessage& m) {
    std::string added, added_f, added6, dropped, dropped6;
    put_compact(added, m.added, false, &m.added_flags, &added_f);
    put_compact(added6, m.added, true, nullptr, nullptr);
    put_compact(dropped, m.dropped, false, nullptr, nullptr);
    put_compact(dropped6, m.dropped, true, nullptr, nullptr);
    // BEP 11 shows every key present; clients accept absent ones too, so we leave out empty lists and flags.
    bencode::Dict d;
    if (!added.empty()) d["added"] = bencode::Value(std::move(added));
    if (!added_f.empty()) d["added.f"] = bencode::Value(std::move(added_f));
    if (!added6.empty()) d["added6"] = bencode::Value(std::move(added6));
    if (!dropped.empty()) d["dropped"] = bencode::Value(std::move(dropped));
    if (!dropped6.empty()) d["dropped6"] = bencode::Value(std::move(dropped6));
    return bencode::encode(bencode::Value(std::move(d)));
}

Result<PexMessage> decode_pex(std::string_view payload) {
    constexpr const char* op = "ut_pex";
    auto v = bencode::decode(payload, kPayloadLimits);
    if (!v.ok()) return bad(op, v.error().what);
    if (!v->is_dict()) return bad(op, "not a dictionary");
    PexMessage m;
    std::vector<bool> kept;
    if (auto s = get_compact(*v, "added", false, m.added, &kept); !s) return s.error();
    if (auto s = get_compact(*v, "added6", true, m.added, nullptr); !s) return s.error();
    if (auto s = get_compact(*v, "dropped", false, m.dropped, nullptr); !s) return s.error();
    if (auto s = get_compact(*v, "dropped6", true, m.dropped, nullptr); !s) return s.error();
    // BEP 11 "added.f": one flag byte per "added" entry; keep the flags of the entries we kept, in order.
    if (const std::string* f = v->find_string("added.f")) {
        std::size_t n = std::min(f->size(), kept.size());
        for (std::size_t i = 0; i < n; ++i)
            if (kept[i]) m.added_flags.push_back(static_cast<std::uint8_t>((*f)[i]));
    }
    return m;
}

} // namespace p2p::ext
