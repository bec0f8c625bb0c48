#include "tracker/resolver.hpp"

#include <cstring>
#include <memory>

#include "loop/fence.hpp"

namespace p2p {

struct Resolver::Req {
    uv_getaddrinfo_t req{};
    Resolver* owner = nullptr; // nulled when the Resolver lets go; the callback then only frees this block
    std::string host;
    Done done;
};

namespace {

Result<Resolver::Addrs> collect(const std::string& host, int status, const addrinfo* res) {
    if (status != 0 || !res)
        return make_error("resolve " + host, status ? uv_strerror(status) : "no address", Errc::io);
    Resolver::Addrs out;
    for (const addrinfo* a = res; a && out.size() < Resolver::kMaxAddrs; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        sockaddr_storage s{};
        std::memcpy(&s, a->ai_addr, a->ai_addrlen);
        out.push_back(s);
    }
    if (out.empty()) return make_error("resolve " + host, "no address", Errc::io);
    return out;
}

} // namespace

void Resolver::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    std::unique_ptr<Req> r(static_cast<Req*>(req->data));
    Result<Addrs> out = collect(r->host, status, res);
    uv_freeaddrinfo(res);
    if (!r->owner) return; // cancelled
    r->owner->req_ = nullptr;
    Done done = std::move(r->done);
    r.reset();
    // Last: done may destroy the Resolver and its owner. A throw is logged; the owner's own timeout then ends it.
    fence("resolve", [&] { done(std::move(out)); });
}

Status Resolver::start(const std::string& host, std::uint16_t port, int socktype, Done done) {
    cancel();
    auto r = std::make_unique<Req>();
    r->owner = this;
    r->host = host;
    r->done = std::move(done);
    r->req.data = r.get();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    const std::string service = std::to_string(port);
    const int rc = uv_getaddrinfo(loop_, &r->req, &on_resolved, host.c_str(), service.c_str(), &hints);
    if (rc != 0) return make_error("resolve " + host, uv_strerror(rc), Errc::io);
    req_ = r.release();
    return ok_status();
}

void Resolver::cancel() {
    if (!req_) return;
    Req* r = req_;
    req_ = nullptr;
    r->owner = nullptr;
    r->done = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&r->req)); // too late when the lookup already runs: the callback frees it
}

} // namespace p2p
