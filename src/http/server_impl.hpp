// The private part of http/server.hpp, for its .cpp files: server.cpp (parsing, answers, writes, timeouts),
// server_listen.cpp (listening sockets, accepting, the fast path) and server_deferred.cpp (deferred answers).
#pragma once
#include <http_parser.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>

#include "http/server.hpp"
#include "loop/life_token.hpp"

namespace p2p::http {

// One client connection. Until it is `attached` (a uv_tcp_t around its socket) it lives only inside accept_one(),
// which frees it; once attached it is freed only in its uv_close callback (after any write callback, which libuv
// runs first with UV_ECANCELED), so every pointer to it stays valid until then; `closed` says it is gone for the
// server.
struct Server::Conn {
    uv_tcp_t tcp;
    uv_write_t wreq;
    Server* owner = nullptr;
    int fd = -1;           // the accepted socket (owned by `tcp` once attached)
    bool attached = false; // `tcp` is initialised and owns fd
    bool reading = false;  // uv_read_start is in force
    http_parser parser;
    Request req;                  // the request being parsed
    std::size_t header_bytes = 0; // of the request being parsed
    bool in_value = false;        // the last header callback was a value
    bool in_request = false;      // a request has started and is not complete
    bool close_after = false;     // close once the output is written (Connection: close, an error, EOF)
    bool paused = false;          // parsing and reading stopped: output over max_output (stash holds the rest)
    bool write_busy = false;      // `writing` is handed to uv_write
    bool eof = false;             // the client has sent everything: answer what it asked, then close
    bool fin_with_answer = false; // the answer may wait for close() to go with the FIN (see flush)
    bool closed = false;
    int error_status = 0;         // set by a parser callback that refuses the request (431, 413)
    std::uint64_t wait_start = 0; // accept, or the end of the last answer: the idle / first-request clock
    std::uint64_t request_start = 0;
    std::uint64_t write_progress = 0; // last time output was queued or written
    std::size_t requests = 0;
    std::string out;     // answers queued, not yet handed to the socket
    std::string writing; // handed to uv_write, kept until its callback
    std::string stash;   // unparsed input while paused (or awaiting: read on, <= kReadSlab, to see a reset)
    // A deferred answer (server_deferred.cpp). `awaiting` implies `paused`: nothing more is parsed until it comes.
    bool awaiting = false;
    bool await_keep = true, await_head = false; // what the answer's framing will be (keep-alive, HEAD)
    unsigned await_minor = 1;
    std::uint64_t await_since = 0;
    Response* in_handler = nullptr; // while the Handler runs: its Response (an answer given now goes there)
    std::optional<LifeToken> wait;  // while awaiting (no allocation otherwise); reset when the wait ends, which
                                    // expires every Deferred of it
};

// One listening socket of our own, polled by libuv: accept4() hands the peer's address with the socket (no
// getpeername), and a connection whose request is already in is answered at once, without a libuv handle.
struct Server::Listener {
    uv_poll_t poll;
    int fd = -1;
    Server* owner = nullptr; // null once the server stopped listening
};

// The status line, the headers and (unless HEAD) the body of r, appended to out.
void append_response(std::string& out, const Response& r, bool head, bool keep_alive, unsigned minor);

} // namespace p2p::http
