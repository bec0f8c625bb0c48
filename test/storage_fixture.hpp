// Shared by the storage tests (test_storage.cpp, test_placement.cpp): a bare libuv loop, hand-made metainfo
// over known content, file helpers and synchronous wrappers of Storage's calls.
#pragma once
#include <doctest/doctest.h>
#include <uv.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "crypto/sha.hpp"
#include "storage/file_map.hpp"
#include "storage/storage.hpp"

namespace storage_test {

namespace fs = std::filesystem;
using namespace p2p;

struct TestLoop {
    uv_loop_t loop;
    TestLoop() { uv_loop_init(&loop); }
    ~TestLoop() {
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }
    uv_loop_t* get() { return &loop; }
    void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

struct FileSpec {
    std::vector<std::string> path;
    std::int64_t length;
};

inline Metainfo make_meta(const std::string& name, const std::vector<FileSpec>& files, std::int64_t piece_length,
                          const std::string& content, bool multi = true) {
    Metainfo m;
    m.name = name;
    m.piece_length = piece_length;
    m.multi_file = multi;
    std::int64_t off = 0;
    for (const auto& f : files) {
        m.files.push_back(FileEntry{multi ? f.path : std::vector<std::string>{name}, f.length, off});
        off += f.length;
    }
    m.total_length = off;
    REQUIRE(std::int64_t(content.size()) == off);
    for (std::int64_t p = 0; p < off; p += piece_length)
        m.piece_hashes += sha1(std::string_view(content).substr(std::size_t(p), std::size_t(piece_length)));
    m.info_hash = sha1(name + "-info");
    return m;
}

inline std::string piece_of(const Metainfo& m, const std::string& content, std::uint32_t i) {
    return content.substr(std::size_t(i) * std::size_t(m.piece_length), std::size_t(piece_bytes(m, i)));
}

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void spit(const fs::path& p, const std::string& data) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
}

// Writes the torrent's content into place the way another client would have left it.
inline void lay_out(const Metainfo& m, const fs::path& root, const std::string& content) {
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        fs::path p = root / m.name;
        if (m.multi_file)
            for (const auto& c : m.files[i].path) p /= c;
        spit(p, content.substr(std::size_t(m.files[i].offset), std::size_t(m.files[i].length)));
    }
}

inline Status open_sync(TestLoop& loop, Storage& st) {
    std::optional<Status> got;
    st.open(OpenMode::download, [&](Status s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

inline Status flush_sync(TestLoop& loop, Storage& st) {
    std::optional<Status> got;
    st.flush([&](Status s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

inline Status write_sync(TestLoop& loop, Storage& st, std::uint32_t i, std::string data) {
    std::optional<Status> got;
    st.write_piece(i, std::make_shared<std::string>(std::move(data)), [&](Status s) { got = std::move(s); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

inline Result<std::shared_ptr<const std::string>> read_sync(TestLoop& loop, Storage& st, std::uint32_t i) {
    std::optional<Result<std::shared_ptr<const std::string>>> got;
    st.read_piece(i, [&](Result<std::shared_ptr<const std::string>> r) { got = std::move(r); });
    loop.run();
    REQUIRE(got.has_value());
    return *got;
}

struct VerifyOutcome {
    std::set<std::uint32_t> good, bad;
    std::size_t reports = 0;
    std::optional<Status> done;
};

inline VerifyOutcome verify_sync(TestLoop& loop, Storage& st) {
    VerifyOutcome v;
    st.verify_existing(
        [&](std::uint32_t i, bool ok) {
            ++v.reports;
            (ok ? v.good : v.bad).insert(i);
        },
        [&](Status s) { v.done = std::move(s); });
    loop.run();
    REQUIRE(v.done.has_value());
    return v;
}

} // namespace storage_test
