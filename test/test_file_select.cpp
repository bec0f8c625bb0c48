// File selection: the picker leaves pieces of unwanted files alone, storage keeps a straddling piece's unwanted
// bytes in the side file (hash-checkable, served, moved into the file when it becomes wanted, remembered by the
// resume record), --select-file's specs, and a torrent's completion counting wanted pieces only.
#include <doctest/doctest.h>

#include "loop/loop.hpp"
#include "node/peer_console.hpp"
#include "session/session.hpp"
#include "session/torrent_files.hpp"
#include "storage/resume.hpp"
#include "storage_fixture.hpp"
#include "swarm/picker.hpp"
#include "test_util.hpp"

using namespace p2p;
using namespace storage_test;

namespace {

// Pieces of 16 bytes over files a (20), b (12), c (30): 62 bytes, 4 pieces. Piece 0 = a[0..16), piece 1 =
// a[16..20) + b (it straddles a and b), piece 2 = c[0..16), piece 3 = c[16..30).
Metainfo abc_meta(const std::string& content) {
    return make_meta("sel", {{{"a"}, 20}, {{"b"}, 12}, {{"c"}, 30}}, 16, content);
}

Result<ResumeState> load_sync(TestLoop& loop, Storage& st) {
    std::optional<ResumeState> got;
    st.load_resume([&](ResumeState rs) { got = std::move(rs); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

Status save_sync(TestLoop& loop, Storage& st, std::vector<bool> have) {
    std::optional<Status> got;
    st.save_resume(std::move(have), [&](Status s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

Status set_wanted_sync(TestLoop& loop, Storage& st, std::vector<bool> w) {
    std::optional<Status> got;
    st.set_wanted(std::move(w), [&](Status s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

} // namespace

TEST_CASE("select picker: pieces touching no wanted file are never picked; flipping them back resumes them") {
    auto p = swarm::PiecePicker::create(8, 16 * 1024, 8 * 16 * 1024);
    REQUIRE(p);
    swarm::Bitfield wanted(8, false);
    wanted.set(2);
    wanted.set(5);
    p->set_wanted(wanted);
    CHECK(p->check_invariants());
    swarm::Bitfield seed(8, true);
    CHECK(p->is_interesting(seed));
    std::vector<swarm::BlockRequest> out;
    p->pick(1, seed, 100, out);
    std::set<std::uint32_t> pieces;
    for (const auto& r : out) pieces.insert(r.piece);
    CHECK(pieces == std::set<std::uint32_t>{2, 5});
    // An unrequested block of an unwanted piece is refused.
    CHECK_FALSE(p->on_block_received(2, swarm::BlockRequest{0, 0, 16 * 1024}).accepted);
    // Suggestions of unwanted pieces are dropped.
    p->add_suggestion(3, 7);
    std::vector<swarm::BlockRequest> out3;
    p->pick(3, seed, 10, out3);
    for (const auto& r : out3) CHECK(r.piece != 7);
    for (const auto& r : out) {
        auto got = p->on_block_received(1, r);
        if (got.piece_complete) p->on_piece_verified(r.piece, true);
    }
    CHECK(p->wanted_complete());
    CHECK_FALSE(p->is_complete());
    CHECK_FALSE(p->is_interesting(seed)); // nothing wanted is missing
    CHECK(p->check_invariants());
    // A peer that has only unwanted pieces is not interesting either.
    swarm::Bitfield only0(8, false);
    only0.set(0);
    wanted.set(0);
    p->set_wanted(wanted);
    CHECK_FALSE(p->wanted_complete());
    CHECK(p->is_interesting(only0));
    std::vector<swarm::BlockRequest> again;
    p->pick(1, seed, 100, again);
    REQUIRE_FALSE(again.empty());
    for (const auto& r : again) CHECK(r.piece == 0);
    CHECK(p->check_invariants());
    // Deselecting a piece in progress lets it finish; a not-started one leaves the buckets.
    wanted.reset(0);
    p->set_wanted(wanted);
    CHECK(p->check_invariants());
}

TEST_CASE("select storage: an unwanted file is not created; a straddling piece's bytes go to the side file") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(62, 11);
    Metainfo m = abc_meta(content);
    const std::string parts = ".p2pnode/" + to_hex(m.info_hash) + ".parts";
    {
        Storage st(loop.get(), m, dir.str());
        REQUIRE(set_wanted_sync(loop, st, {true, false, true}));
        REQUIRE(open_sync(loop, st));
        CHECK(fs::exists(dir.path / "sel" / "a"));
        CHECK_FALSE(fs::exists(dir.path / "sel" / "b"));
        CHECK(fs::exists(dir.path / "sel" / "c"));
        // Pieces 0, 1 (a + b), 2, 3: the wanted pieces; piece 1 straddles a and the unwanted b.
        for (std::uint32_t i = 0; i < m.piece_count(); ++i) REQUIRE(write_sync(loop, st, i, piece_of(m, content, i)));
        CHECK_FALSE(fs::exists(dir.path / "sel" / "b"));
        CHECK(st.parts_path() == (dir.path / parts).string());
        // The side file holds b's bytes at their torrent offset (20..32).
        const std::string side = slurp(dir.path / parts);
        REQUIRE(side.size() == 32);
        CHECK(side.substr(20, 12) == content.substr(20, 12));
        CHECK(slurp(dir.path / "sel" / "a") == content.substr(0, 20));
        REQUIRE(save_sync(loop, st, {true, true, true, true}));
    }
    // A fresh storage (cold cache) reads piece 1 back from a and the side file, and it hash-checks.
    Storage st2(loop.get(), m, dir.str());
    auto rs = load_sync(loop, st2);
    REQUIRE(rs);
    CHECK(rs->valid);
    CHECK(st2.wanted() == std::vector<bool>{true, false, true}); // the selection survives the restart
    auto r = read_sync(loop, st2, 1);
    REQUIRE(r);
    CHECK(**r == piece_of(m, content, 1));
    CHECK(sha1(**r) == m.piece_hash(1));
    auto v = verify_sync(loop, st2);
    CHECK(v.good == std::set<std::uint32_t>{0, 1, 2, 3});
    CHECK_FALSE(fs::exists(dir.path / "sel" / "b"));
}

TEST_CASE("select storage: a file that becomes wanted is created and gets its bytes from the side file") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(62, 12);
    Metainfo m = abc_meta(content);
    Storage st(loop.get(), m, dir.str());
    REQUIRE(set_wanted_sync(loop, st, {true, false, false}));
    REQUIRE(open_sync(loop, st));
    REQUIRE(write_sync(loop, st, 0, piece_of(m, content, 0)));
    REQUIRE(write_sync(loop, st, 1, piece_of(m, content, 1))); // b's first 12 bytes: all of b, in the side file
    CHECK_FALSE(fs::exists(dir.path / "sel" / "b"));
    CHECK_FALSE(fs::exists(dir.path / "sel" / "c"));
    REQUIRE(set_wanted_sync(loop, st, {true, true, false}));
    CHECK(slurp(dir.path / "sel" / "b") == content.substr(20, 12));
    CHECK_FALSE(fs::exists(dir.path / "sel" / "c"));
    // Recorded where they are now: a new storage reads piece 1 from a and b.
    REQUIRE(save_sync(loop, st, {true, true, false, false}));
    Storage st2(loop.get(), m, dir.str());
    auto rs = load_sync(loop, st2);
    REQUIRE(rs);
    CHECK(rs->valid);
    CHECK(st2.wanted() == std::vector<bool>{true, true, false});
    fs::remove(dir.path / ".p2pnode" / (to_hex(m.info_hash) + ".parts")); // b's bytes no longer needed there
    auto r = read_sync(loop, st2, 1);
    REQUIRE(r);
    CHECK(**r == piece_of(m, content, 1));
}

TEST_CASE("select resume record: the selection and the side file's entries round-trip") {
    ResumeData r;
    r.info_hash = std::string(20, 'h');
    r.piece_count = 4;
    r.have = {true, false, true, false};
    r.files = {FileStamp{20, 1}, FileStamp{kStampMissing, 0}, FileStamp{30, 2}};
    r.wanted = {true, false, true};
    r.parts = {{1, 1}};
    auto back = decode_resume(encode_resume(r));
    REQUIRE(back);
    CHECK(back->wanted == r.wanted);
    CHECK(back->parts == r.parts);
    // No selection recorded: every file wanted (an old record reads the same).
    r.wanted.clear();
    r.parts.clear();
    back = decode_resume(encode_resume(r));
    REQUIRE(back);
    CHECK(back->wanted.empty());
    // A part naming a file or piece that does not exist is refused.
    std::string bad = encode_resume(r);
    bad.insert(bad.size() - 1, ",\"parts\":[[3,0]]");
    CHECK_FALSE(decode_resume(bad));
}

TEST_CASE("select --select-file specs: indices, comma lists and paths") {
    const std::string content = test::pseudo_random(62, 13);
    Metainfo m = make_meta("sel", {{{"a"}, 20}, {{"sub", "b"}, 12}, {{"c"}, 30}}, 16, content);
    auto s = select_files(m, {"0,2"});
    REQUIRE(s);
    CHECK(*s == std::vector<bool>{true, false, true});
    s = select_files(m, {"sub/b", "0"});
    REQUIRE(s);
    CHECK(*s == std::vector<bool>{true, true, false});
    CHECK_FALSE(select_files(m, {"3"}));
    CHECK_FALSE(select_files(m, {"b"}));
    CHECK_FALSE(select_files(m, {"0,,1"}));
    CHECK(select_files(m, {"sub/b"})->at(1));
}

TEST_CASE("select torrent: completion, progress and files count the wanted pieces only") {
    test::TempDir dir{"select"};
    // a (32 bytes) = pieces 0-1, b (16) = piece 2, c (20) = pieces 3-4 (the last short): every file on a piece
    // boundary, so the wanted files' pieces can be on disk without b.
    const std::string content = test::pseudo_random(68, 14);
    Metainfo m = make_meta("sel", {{{"a"}, 32}, {{"b"}, 16}, {{"c"}, 20}}, 16, content);
    spit(dir.path / "sel" / "a", content.substr(0, 32));
    spit(dir.path / "sel" / "c", content.substr(48, 20));
    Loop loop;
    SessionConfig sc;
    sc.listen_ip = "127.0.0.1";
    sc.port = 0;
    auto session = std::make_unique<Session>(loop, sc);
    REQUIRE(session->listen());
    TorrentConfig tc;
    tc.root_dir = dir.path.string();
    tc.max_connecting = 0;
    tc.wanted_files = {true, false, true};
    Torrent* t = session->add_torrent(m, tc, false);
    REQUIRE(t);
    bool completed = false;
    t->on_complete = [&] { completed = true; };
    REQUIRE(test::run_until(
        loop, [&] { return t->status().phase != TorrentPhase::checking; }, 10'000));
    TorrentStatus s = t->status();
    CHECK(s.phase == TorrentPhase::seeding);
    CHECK(t->complete());
    CHECK(completed);
    CHECK(s.total == 52); // 68 - b's 16
    CHECK(s.have_bytes == 52);
    CHECK(t->left_bytes() == 0);
    CHECK_FALSE(fs::exists(dir.path / "sel" / "b"));
    auto files = t->files();
    REQUIRE(files.size() == 3);
    CHECK(files[0].wanted);
    CHECK_FALSE(files[1].wanted);
    CHECK(files[1].done == 0);
    // Wanting b: no longer complete, the file is created, 16 bytes left.
    REQUIRE(session->set_file_wanted(m.info_hash, 1, true));
    CHECK_FALSE(t->complete());
    CHECK(t->status().phase == TorrentPhase::downloading);
    CHECK(t->left_bytes() == 16);
    CHECK(test::run_until(
        loop, [&] { return fs::exists(dir.path / "sel" / "b"); }, 5000));
    CHECK(session->set_file_wanted(m.info_hash, 7, true).error().code == Errc::not_found);
    CHECK(session->set_files_wanted(m.info_hash, {true}).error().code == Errc::bad_input);
    // Deselecting it again: complete at once.
    completed = false;
    REQUIRE(session->set_file_wanted(m.info_hash, 1, false));
    CHECK(t->complete());
    CHECK(completed);
    bool done = false;
    session->shutdown([&] { done = true; });
    test::run_until(
        loop, [&] { return done; }, 5000);
    session.reset();
    test::run_until(loop, std::function<bool()>([] { return false; }), 30);
    // The resume record remembers the selection.
    auto text = slurp(dir.path / ".p2pnode" / (to_hex(m.info_hash) + ".resume"));
    auto rd = decode_resume(text);
    REQUIRE(rd);
    CHECK(rd->wanted == std::vector<bool>{true, false, true});
}

TEST_CASE("select console: want/skip take a name and trailing indices; files shows the wanted column") {
    auto c = parse_peer_command("want my album 1 2,3");
    REQUIRE(c.cmd == PeerCommand::want);
    CHECK(c.arg == "my album");
    CHECK(c.file_indices == std::vector<std::size_t>{1, 2, 3});
    c = parse_peer_command("skip \"my album\" 0");
    REQUIRE(c.cmd == PeerCommand::skip);
    CHECK(c.arg == "my album");
    CHECK(c.file_indices == std::vector<std::size_t>{0});
    CHECK(parse_peer_command("want album").cmd == PeerCommand::invalid);
    CHECK(parse_peer_command("want 3").cmd == PeerCommand::invalid);
    CHECK(parse_peer_command("skip album x1").cmd == PeerCommand::invalid);
    std::vector<FileProgress> files{{0, "a", 10, 10, true}, {1, "b", 5, 0, false}};
    const std::string t = format_files(files);
    CHECK(t.find("WANT") != std::string::npos);
    CHECK(t.find(" yes   a\n") != std::string::npos);
    CHECK(t.find(" no    b\n") != std::string::npos);
}
