#include "config/reference.hpp"

namespace regmirror::config {
namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// One path component: alnum runs joined by ".", "_", "__" or any number of "-".
bool is_valid_component(std::string_view component) {
  if (component.empty() || !is_lower_alnum(component.front()) || !is_lower_alnum(component.back())) {
    return false;
  }
  for (std::size_t i = 0; i < component.size();) {
    if (is_lower_alnum(component[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    char sep = component[i];
    if (sep == '.') {
      ++i;
    } else if (sep == '_') {
      ++i;
      if (i < component.size() && component[i] == '_') ++i;
    } else if (sep == '-') {
      while (i < component.size() && component[i] == '-') ++i;
    } else {
      return false;
    }
    if (i == start || i >= component.size() || !is_lower_alnum(component[i])) return false;
  }
  return true;
}

}  // namespace

bool is_valid_repository(std::string_view name) {
  if (name.empty() || name.size() > kMaxRepositoryLength) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = name.find('/', start);
    auto component = name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (!is_valid_component(component)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  if (!is_alnum(tag.front()) && tag.front() != '_') return false;
  for (char c : tag) {
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool is_valid_registry_host(std::string_view host) {
  if (host.empty() || host.size() > 253 + 6) return false;
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos) {
    auto port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return false;
    host = host.substr(0, colon);
  }
  // DNS labels: [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? separated by dots (IPv4 fits too).
  std::size_t start = 0;
  while (true) {
    auto dot = host.find('.', start);
    auto label = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
    if (label.empty() || label.size() > 63 || !is_alnum(label.front()) || !is_alnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!is_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace regmirror::config
