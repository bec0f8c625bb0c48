// http::Server's deferred answers (server.hpp: Response::defer, Deferred): a handler that answers later. The
// connection waits with its parser paused (awaiting implies paused: the pipelined requests behind it stay in the
// stash and are answered after it, in order) and reads on into the stash, up to kReadSlab, so that a client that
// resets is noticed and the wait ends at once. The wait is a LifeToken of the connection: every Deferred watches
// it, and it expires when the answer comes, at the timeout (504) and when the connection closes (the client, an
// error, the server's close or destruction), so a late answer() finds it expired and touches nothing.
#include "http/server_impl.hpp"

namespace p2p::http {

Deferred Response::defer() {
    if (!server_ || !conn_) return {};
    return server_->defer(static_cast<Server::Conn*>(conn_), *this);
}

void Deferred::answer(Response r) const {
    if (!wait_) return; // answered, timed out, or its connection is gone (and maybe the server with it)
    conn_->owner->answer_deferred(conn_, std::move(r));
}

Deferred Server::defer(Conn* c, Response& resp) {
    if (c->closed || c->in_handler != &resp) return {};    // only from inside the handler, on its own Response
    if (c->awaiting) return Deferred(c->wait->watch(), c); // asked twice: the same wait
    if (deferred_ >= limits_.max_deferred) {
        ++stats_.deferred_refused;
        resp.status = 503;
        resp.headers.emplace_back("Retry-After", "1");
        resp.body = "503: too many answers pending; retry in a moment\n";
        return {};
    }
    ++deferred_; // (stats_.deferred counts it once the handler returns still waiting: message_complete)
    c->awaiting = true;
    c->wait.emplace();
    return Deferred(c->wait->watch(), c);
}

void Server::answer_deferred(Conn* c, Response r) {
    if (c->closed || !c->awaiting) return;
    if (Response* now = c->in_handler) { // from inside the handler: it is the answer, as if never deferred
        end_wait(c);
        *now = std::move(r);
        return;
    }
    const bool keep = c->await_keep && !r.close;
    end_wait(c);
    // A connection of the fast path (server_listen.cpp) is attached before its handler's caller returns, so this
    // is a no-op but for an answer given from another connection's handler while this one was being accepted.
    if (!attach(c)) return;
    append_response(c->out, r, c->await_head, keep, c->await_minor);
    c->write_progress = uv_now(loop_);
    if (!keep) c->close_after = true;
    pump(c); // writes it, then parses what waited behind it (or closes)
}

void Server::end_wait(Conn* c) {
    if (!c->awaiting) return;
    c->awaiting = false;
    c->wait.reset();
    --deferred_;
}

void Server::answer_late(Conn* c) {
    if (c->closed || !c->awaiting) return;
    ++stats_.deferred_late;
    Response r;
    r.status = 504;
    r.body = "504: no answer within " + std::to_string(limits_.deferred_timeout_ms) + " ms\n";
    r.close = true; // the late answer, if it ever comes, has nowhere to go
    answer_deferred(c, std::move(r));
}

} // namespace p2p::http
