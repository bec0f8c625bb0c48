// The web page of the peer's RPC port (GET / and /index.html): one self-contained HTML page (CSS and JS inline,
// nothing fetched from elsewhere) compiled into the binary, which drives the same Transmission RPC as
// transmission-remote does (fetch() POSTs to /transmission/rpc with the session-id handshake). It lists the
// torrents with their progress, rates, peers, ETA and state, adds a magnet link, an info hash or an uploaded
// .torrent, pauses, resumes and removes, and shows one torrent's files (wanted or not) and peers, polling every
// 1.5 s. Why in the binary: a phone or a headless box has a client with nothing to install, and the page can
// only do what the RPC allows.
//
// Security: the page is served only after the RPC port's Host check and basic auth (rpc_server.cpp runs them
// before routing), so it reveals nothing the RPC does not; the browser then sends the same credentials with its
// fetch() calls. Torrent names and errors come from the network and are inserted with textContent, never as
// HTML. The headers forbid framing (clickjacking: X-Frame-Options and frame-ancestors) and any script, style or
// connection from elsewhere (Content-Security-Policy; inline script and style are the page itself).
#pragma once
#include <string_view>

#include "http/server.hpp"

namespace p2p {

// The page, whole (about 16 KB; static storage).
std::string_view web_page();
// Whether a request path names the page: "/" or "/index.html".
bool is_web_page_path(std::string_view path);
// Answers with the page: 200, text/html, the security headers above.
void serve_web_page(http::Response& resp);

} // namespace p2p
