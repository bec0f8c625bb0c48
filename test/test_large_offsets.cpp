// Byte offsets past 4 GiB, for 32-bit builds (armhf: 32-bit size_t and long; tools/check-cross runs this suite
// under qemu-arm). A torrent bigger than 4 GiB must map, write, read, verify and resume at its true offsets:
// a value squeezed through 32 bits anywhere lands a block 4 GiB too early, on top of other data. The storage
// cases use a sparse 5 GiB file (ftruncate), so they cost a few MiB of disk and I/O. It runs on x86-64 too.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "base/file_stamp.hpp"
#include "base/memory_budget.hpp"
#include "proto/http_tracker.hpp"
#include "proto/http_tracker_query.hpp"
#include "proto/metainfo.hpp"
#include "proto/udp_tracker.hpp"
#include "storage_fixture.hpp"
#include "swarm/picker.hpp"
#include "test_util.hpp"

using namespace p2p;
using namespace storage_test;

// Large-file support: without _FILE_OFFSET_BITS=64 (meson adds it) a 32-bit build's off_t, struct stat and
// lseek stop at 2 GiB.
static_assert(sizeof(off_t) == 8, "off_t must be 64-bit (build with -D_FILE_OFFSET_BITS=64)");

namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;
constexpr std::int64_t kGiB = std::int64_t{1} << 30;
constexpr std::int64_t k4GiB = std::int64_t{1} << 32;

// A single-file torrent of 5 GiB + 12345 bytes in 1 MiB pieces (5121 pieces, the last one 12345 bytes). Every
// piece's hash is that of zeros, except `written`'s, which hash pseudo_random(piece size, index).
Metainfo big_single(const std::vector<std::uint32_t>& written) {
    Metainfo m;
    m.name = "big.bin";
    m.piece_length = kMiB;
    m.multi_file = false;
    m.total_length = 5 * kGiB + 12345;
    m.files.push_back(FileEntry{{m.name}, m.total_length, 0});
    const std::uint32_t count = static_cast<std::uint32_t>((m.total_length + kMiB - 1) / kMiB);
    const std::string zero_full = sha1(std::string(std::size_t(kMiB), '\0'));
    const std::string zero_last = sha1(std::string(12345, '\0'));
    for (std::uint32_t i = 0; i < count; ++i) m.piece_hashes += i + 1 == count ? zero_last : zero_full;
    for (std::uint32_t i : written) {
        const std::int64_t size = std::min(kMiB, m.total_length - std::int64_t(i) * kMiB);
        m.piece_hashes.replace(std::size_t(i) * 20, 20, sha1(test::pseudo_random(std::size_t(size), i)));
    }
    m.info_hash = sha1(std::string("large-offsets-info"));
    return m;
}

std::string piece_data(const Metainfo& m, std::uint32_t i) {
    return test::pseudo_random(std::size_t(piece_bytes(m, i)), i);
}

// pread at a 64-bit offset, outside the storage layer: where the bytes really are in the file.
std::string pread_at(const std::string& path, std::int64_t offset, std::size_t n) {
    std::string out(n, '\0');
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const ssize_t got = ::pread(fd, out.data(), n, off_t(offset));
    ::close(fd);
    REQUIRE(got == ssize_t(n));
    return out;
}

Status save_resume_sync(TestLoop& loop, Storage& st, std::vector<bool> have) {
    std::optional<Status> got;
    st.save_resume(std::move(have), [&](Status s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

ResumeState load_resume_sync(TestLoop& loop, Storage& st) {
    std::optional<ResumeState> got;
    st.load_resume([&](ResumeState s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

} // namespace

TEST_CASE("large offsets: file map of a multi-file torrent past 4 GiB") {
    // a: 4 GiB + 1 MiB, b: 1000 MiB, c: 10 bytes; 16 MiB pieces. Piece 256 starts exactly at 4 GiB.
    Metainfo m;
    m.name = "t";
    m.piece_length = 16 * kMiB;
    m.multi_file = true;
    m.files = {FileEntry{{"a"}, k4GiB + kMiB, 0}, FileEntry{{"b"}, 1000 * kMiB, k4GiB + kMiB},
               FileEntry{{"c"}, 10, k4GiB + kMiB + 1000 * kMiB}};
    m.total_length = k4GiB + 1001 * kMiB + 10;
    m.piece_hashes.assign(319 * 20, 'h');
    REQUIRE(m.piece_count() == 319);
    CHECK(piece_bytes(m, 256) == 16 * kMiB);
    CHECK(piece_bytes(m, 318) == 9 * kMiB + 10); // from 5088 MiB to the end
    CHECK(m.piece_size(318) == 9 * kMiB + 10);

    auto s = map_range(m, 256, 0, 16 * kMiB); // a's last MiB, then b's first 15 MiB
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{0, k4GiB, kMiB, 0}, {1, 0, 15 * kMiB, kMiB}});
    s = map_range(m, 300, 5, 100); // 4800 MiB + 5: inside b
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{1, 4800 * kMiB + 5 - (k4GiB + kMiB), 100, 0}});
    s = map_range(m, 318, 0, 9 * kMiB + 10); // b's tail and all of c
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{1, 991 * kMiB, 9 * kMiB, 0}, {2, 0, 10, 9 * kMiB}});
    CHECK_FALSE(map_range(m, 318, 0, 9 * kMiB + 11)); // one byte past the end

    const auto a = pieces_of_file(m, 0), b = pieces_of_file(m, 1), c = pieces_of_file(m, 2);
    CHECK(a.first == 0);
    CHECK(a.last == 257);
    CHECK(b.first == 256);
    CHECK(b.last == 319);
    CHECK(c.first == 318);
    CHECK(c.last == 319);
}

TEST_CASE("large offsets: storage writes, reads, verifies and resumes a sparse 5 GiB file") {
    test::TempDir dir("large");
    // Piece 4096 starts exactly at 4 GiB (a 32-bit offset wraps to 0), 4500 at ~4.4 GiB, 5120 is the short last.
    const std::vector<std::uint32_t> written{4096, 4500, 5120};
    const Metainfo m = big_single(written);
    REQUIRE(m.piece_count() == 5121);
    REQUIRE(piece_bytes(m, 5120) == 12345);
    const std::string path = dir.str() + "/big.bin";
    {
        TestLoop loop;
        Storage st(loop.get(), m, dir.str());
        REQUIRE(open_sync(loop, st).ok());
        struct stat sb {};
        REQUIRE(::stat(path.c_str(), &sb) == 0);
        CHECK(std::int64_t(sb.st_size) == m.total_length);
        CHECK(std::int64_t(sb.st_blocks) * 512 < 64 * kMiB); // extended sparse, not written

        // Fresh download: every piece is known zeros past the old size 0, so this hashes nothing from disk. The
        // written pieces' hashes are not those of zeros.
        auto v = verify_sync(loop, st);
        REQUIRE(v.done->ok());
        CHECK(v.reports == 5121);
        CHECK(v.bad == std::set<std::uint32_t>(written.begin(), written.end()));

        for (std::uint32_t i : written) CHECK(write_sync(loop, st, i, piece_data(m, i)).ok());
        std::vector<bool> have(m.piece_count(), false);
        for (std::uint32_t i : written) have[i] = true;
        REQUIRE(save_resume_sync(loop, st, have).ok());
    }
    // On disk, at the true offsets; the offsets 4 GiB lower (where a wrapped offset would write) hold zeros.
    for (std::uint32_t i : written) {
        const std::int64_t at = std::int64_t(i) * kMiB;
        const std::string want = piece_data(m, i);
        CHECK(pread_at(path, at, want.size()) == want);
        CHECK(pread_at(path, at - k4GiB, want.size()) == std::string(want.size(), '\0'));
    }
    // A second storage over the same file (an empty read cache) reads them back from disk and trusts the record,
    // whose file size is past 4 GiB.
    TestLoop loop;
    Storage st(loop.get(), m, dir.str());
    ResumeState rs = load_resume_sync(loop, st);
    CHECK_MESSAGE(rs.valid, rs.reason);
    REQUIRE(rs.have.size() == m.piece_count());
    for (std::uint32_t i = 0; i < m.piece_count(); ++i)
        if (rs.have[i] != (i == 4096 || i == 4500 || i == 5120)) FAIL_CHECK("resume record: piece " << i);
    REQUIRE(open_sync(loop, st).ok());
    for (std::uint32_t i : written) {
        auto got = read_sync(loop, st, i);
        REQUIRE(got);
        CHECK(**got == piece_data(m, i));
    }
    auto zero = read_sync(loop, st, 0);
    REQUIRE(zero);
    CHECK(**zero == std::string(std::size_t(kMiB), '\0'));
    CHECK(st.stats().pieces_read == 4);
}

TEST_CASE("large offsets: metainfo, picker and tracker requests of a 5 GiB torrent") {
    const std::int64_t total = 5 * kGiB + 1; // 321 pieces of 16 MiB, the last one 1 byte
    const std::string info =
        build_info_dict("big.bin", 16 * kMiB, std::string(321 * 20, 'h'), {{{}, total}}, false, false);
    auto m = parse_info_dict(info);
    REQUIRE(m);
    CHECK(m->total_length == total);
    CHECK(m->files.at(0).length == total);
    CHECK(m->piece_count() == 321);
    CHECK(m->piece_size(320) == 1);
    CHECK(m->piece_size(319) == 16 * kMiB);

    swarm::Bitfield have(321);
    for (std::uint32_t i = 0; i < 321; ++i)
        if (i != 300 && i != 320) have.set(i);
    auto p = swarm::PiecePicker::create(321, 16 * kMiB, std::uint64_t(total), &have, {});
    REQUIRE(p);
    CHECK(p->left() == 16 * kMiB + 1);
    CHECK(p->piece_size(320) == 1);
    CHECK(p->piece_size(300) == 16 * kMiB);
    CHECK(p->block(300, 1023).offset == 16 * kMiB - swarm::kBlockSize);
    CHECK_FALSE(swarm::PiecePicker::create(320, 16 * kMiB, std::uint64_t(total), nullptr, {})); // does not fit

    // BEP 15: 64-bit counters on the wire.
    udp::AnnounceRequest a;
    a.downloaded = 6 * std::uint64_t(kGiB) + 7;
    a.left = std::uint64_t(total);
    a.uploaded = 7 * std::uint64_t(kGiB) + 9;
    auto d = udp::decode_announce_request(udp::encode_announce_request(a));
    REQUIRE(d);
    CHECK(d->downloaded == a.downloaded);
    CHECK(d->left == a.left);
    CHECK(d->uploaded == a.uploaded);

    // BEP 3: decimal query parameters.
    http_tracker::AnnounceRequest h;
    h.info_hash = udp::Hash20::from(std::string(20, 'i'));
    h.peer_id = udp::Hash20::from(std::string(20, 'p'));
    h.port = 6881;
    h.uploaded = a.uploaded;
    h.downloaded = a.downloaded;
    h.left = a.left;
    auto url = http_tracker::parse_url("http://127.0.0.1:8080/announce");
    REQUIRE(url);
    const std::string target = http_tracker::announce_target(*url, h);
    CHECK(target.find("left=5368709121") != std::string::npos);
    auto q = http_tracker::decode_announce_query(target.substr(target.find('?') + 1));
    REQUIRE(q);
    CHECK(q->uploaded == h.uploaded);
    CHECK(q->downloaded == h.downloaded);
    CHECK(q->left == h.left);
}

TEST_CASE("large offsets: sizes, budgets and timestamps past 32 bits") {
    // A file stamp: size past 4 GiB, nanoseconds since the epoch (2e18 in 2033) past 32 bits.
    struct stat sb {};
    sb.st_size = off_t(5 * kGiB + 3);
    sb.st_mtim.tv_sec = 2'000'000'000;
    sb.st_mtim.tv_nsec = 123;
    const FileStamp fs = stamp_of(sb);
    CHECK(fs.size == 5 * kGiB + 3);
    CHECK(fs.mtime_ns == 2'000'000'000'000'000'123);

    CHECK(format_bytes(std::uint64_t(5 * kGiB)) == "5120 MiB");
    // --max-memory past 4 GiB must not wrap in a 32-bit size_t (4 GiB would become 0): a bigger budget never
    // plans less than a smaller one.
    auto one = plan_peer_memory(std::uint64_t(kGiB));
    REQUIRE(one);
    for (std::uint64_t budget : {std::uint64_t(k4GiB), std::uint64_t(5 * kGiB), std::uint64_t(64 * kGiB)}) {
        auto p = plan_peer_memory(budget);
        REQUIRE(p);
        CHECK(p->read_cache >= one->read_cache);
        CHECK(p->write >= one->write);
        CHECK(p->send >= one->send);
        CHECK(p->max_connections == 400);
        CHECK(p->read_cache + p->write + p->send > p->read_cache); // no wrap in the sum the session makes
    }
    auto t1 = plan_tracker_memory(std::uint64_t(kGiB));
    auto t5 = plan_tracker_memory(std::uint64_t(5 * kGiB));
    REQUIRE(t1);
    REQUIRE(t5);
    CHECK(t5->max_peers >= t1->max_peers);
    CHECK(t5->max_swarms >= t1->max_swarms);
    CHECK(t5->max_catalog >= t1->max_catalog);
}
