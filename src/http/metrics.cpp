// /metrics text and the HTTP server's counters (http/metrics.hpp).
#include "http/metrics.hpp"

namespace p2p::http {

void MetricsText::family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void MetricsText::sample(const char* name, const char* labels, std::uint64_t value) {
    out_ += name;
    out_ += labels;
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
}

void MetricsText::server(const std::string& prefix, const char* connections_help, const Server& s) {
    const Stats& st = s.stats();
    const std::string conns = prefix + "_connections", events = prefix + "_connection_events_total",
                      requests = prefix + "_requests_total", bad = prefix + "_bad_requests_total",
                      buffers = prefix + "_buffer_bytes", deferred = prefix + "_deferred_answers_total";
    family(conns.c_str(), "gauge", connections_help);
    sample(conns.c_str(), "", s.connections());
    family(events.c_str(), "counter", "HTTP connections, by outcome.");
    sample(events.c_str(), "{event=\"accepted\"}", st.accepted);
    sample(events.c_str(), "{event=\"refused\"}", st.refused);
    sample(events.c_str(), "{event=\"evicted\"}", st.evicted);
    sample(events.c_str(), "{event=\"timed_out\"}", st.timed_out);
    family(requests.c_str(), "counter", "HTTP requests parsed.");
    sample(requests.c_str(), "", st.requests);
    family(bad.c_str(), "counter", "HTTP requests refused by the server (400/413/431).");
    sample(bad.c_str(), "", st.bad_requests);
    family(deferred.c_str(), "counter",
           "HTTP answers given later (Response::defer), by outcome: all, 504 past the timeout, 503 at the cap.");
    sample(deferred.c_str(), "{outcome=\"deferred\"}", st.deferred);
    sample(deferred.c_str(), "{outcome=\"timed_out\"}", st.deferred_late);
    sample(deferred.c_str(), "{outcome=\"refused\"}", st.deferred_refused);
    family(buffers.c_str(), "gauge", "HTTP connection records and buffers.");
    sample(buffers.c_str(), "", s.memory_used());
}

void add_server_stats(nlohmann::json& into, const Server& s) {
    const Stats& st = s.stats();
    into["requests"] = st.requests;
    into["bad_requests"] = st.bad_requests;
    into["connections"] = s.connections();
    into["accepted"] = st.accepted;
    into["refused"] = st.refused;
    into["evicted"] = st.evicted;
    into["timed_out"] = st.timed_out;
    into["deferred"] = st.deferred;
    into["deferred_timed_out"] = st.deferred_late;
    into["deferred_refused"] = st.deferred_refused;
    into["buffer_bytes"] = s.memory_used();
}

} // namespace p2p::http
