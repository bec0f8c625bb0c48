// A torrent's files as a whole (session/torrent_files.hpp): bytes done per file from the pieces we have, across
// piece boundaries and files smaller than a piece, and the folders a download's deletion may remove.
#include <doctest/doctest.h>

#include "session/torrent_files.hpp"

using namespace p2p;

namespace {
Metainfo three_files() {
    // Pieces of 100 bytes; files of 150, 30 and 220 bytes: 400 bytes, 4 pieces.
    Metainfo m;
    m.name = "album";
    m.multi_file = true;
    m.piece_length = 100;
    m.total_length = 400;
    m.piece_hashes.assign(4 * 20, 'x');
    m.files = {FileEntry{{"cd1", "a.flac"}, 150, 0}, FileEntry{{"b.txt"}, 30, 150}, FileEntry{{"c.flac"}, 220, 180}};
    return m;
}
} // namespace

TEST_CASE("file progress: overlaps of the pieces we have") {
    Metainfo m = three_files();
    swarm::Bitfield none(4, false);
    auto p = file_progress(m, none);
    REQUIRE(p.size() == 3);
    CHECK(p[0].path == "cd1/a.flac");
    CHECK(p[0].size == 150);
    CHECK(p[2].index == 2);
    for (const auto& f : p) CHECK(f.done == 0);

    swarm::Bitfield some(4, false);
    some.set(1); // bytes 100..200: 50 of a, all 30 of b, 20 of c
    p = file_progress(m, some);
    CHECK(p[0].done == 50);
    CHECK(p[1].done == 30);
    CHECK(p[2].done == 20);

    swarm::Bitfield all(4, true);
    p = file_progress(m, all);
    CHECK(p[0].done == 150);
    CHECK(p[1].done == 30);
    CHECK(p[2].done == 220); // the last piece is the short one
}

TEST_CASE("file progress: an empty file is done; a single-file torrent is its name") {
    Metainfo m;
    m.name = "x.bin";
    m.piece_length = 16384;
    m.total_length = 20000;
    m.piece_hashes.assign(2 * 20, 'x');
    m.files = {FileEntry{{"x.bin"}, 20000, 0}, FileEntry{{"empty"}, 0, 20000}};
    swarm::Bitfield have(2, false);
    have.set(1);
    auto p = file_progress(m, have);
    CHECK(p[0].path == "x.bin");
    CHECK(p[0].done == 20000 - 16384);
    CHECK(p[1].done == 0);
    CHECK(p[1].size == 0);
}

TEST_CASE("deleting a download: its folders, deepest first, nothing above its own folder") {
    auto d = folders_of("/dl/album", {"/dl/album/cd1/a.flac", "/dl/album/cd1/deep/x", "/dl/album/b.txt", "/elsewhere/c",
                                      "/dl/albumx/y"});
    REQUIRE(d.size() == 3);
    CHECK(d[0] == "/dl/album/cd1/deep");
    CHECK(d[1] == "/dl/album/cd1");
    CHECK(d[2] == "/dl/album");
    CHECK(folders_of("/dl/album", {}).empty());
}
