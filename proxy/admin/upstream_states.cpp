// cache upstreams: each upstream's circuit breaker.
#include "proxy/admin/jobs.hpp"
#include "proxy/registry/upstream_chain.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

Reply upstream_states(const AdminHandlerParts& parts, std::string_view, const std::string&) {
  json out = json::array();
  if (parts.chains != nullptr) {
    for (const auto& [name, chain] : *parts.chains) {
      for (std::size_t i = 0; i < chain->size(); ++i) {
        const auto& circuit = chain->circuit(i);
        out.push_back({{"registry", name},
                       {"upstream", chain->upstream_url(i)},
                       {"state", std::string(upstream::circuit_state_name(circuit.state()))},
                       {"consecutive_failures", circuit.consecutive_failures()},
                       {"retry_in_ms", circuit.retry_in_ms()}});
      }
    }
  }
  return Reply{http::status::ok, json{{"upstreams", out}}};
}

}  // namespace regmirror::proxy::admin
