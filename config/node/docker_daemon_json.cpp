#include "config/node/docker_daemon_json.hpp"

#include <nlohmann/json.hpp>

namespace regmirror::config::node {
namespace {

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::string without_trailing_slash(std::string s) {
  while (s.ends_with('/')) s.pop_back();
  return s;
}

}  // namespace

NodeResult<std::string> merge_docker_daemon_json(std::string_view existing,
                                                 const MirrorEndpoint& mirror) {
  // ordered_json keeps the operator's key order in the rewritten file.
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  if (!blank(existing)) {
    doc = nlohmann::ordered_json::parse(existing, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      return node_error("daemon.json is not valid JSON; fix or remove it (left unchanged)");
    }
    if (!doc.is_object()) {
      return node_error("daemon.json is not a JSON object; fix or remove it (left unchanged)");
    }
  }
  nlohmann::ordered_json mirrors = nlohmann::ordered_json::array();
  if (auto it = doc.find("registry-mirrors"); it != doc.end()) {
    if (!it->is_array()) {
      return node_error("daemon.json: \"registry-mirrors\" is not an array (left unchanged)");
    }
    for (const auto& entry : *it) {
      if (!entry.is_string()) {
        return node_error(
            "daemon.json: \"registry-mirrors\" holds a non-string entry (left unchanged)");
      }
    }
    if (!it->empty() && without_trailing_slash((*it)[0].get<std::string>()) == mirror.url) {
      return std::string(existing);
    }
    mirrors = *it;
  }
  nlohmann::ordered_json merged = nlohmann::ordered_json::array({mirror.url});
  for (const auto& entry : mirrors) {
    if (without_trailing_slash(entry.get<std::string>()) != mirror.url) merged.push_back(entry);
  }
  doc["registry-mirrors"] = std::move(merged);
  return doc.dump(2) + "\n";
}

}  // namespace regmirror::config::node
