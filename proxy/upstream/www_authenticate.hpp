#pragma once
// Parses `WWW-Authenticate` challenges (RFC 9110 §11.6.1): scheme followed by auth-params,
// e.g. `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regmirror::proxy::upstream {

struct AuthChallenge {
  std::string scheme;                         // lower-cased: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lower-cased, values unquoted

  std::string param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  }
};

// Every challenge in the header value, in order. Malformed parts end the parse; what was parsed
// before them is kept (an upstream's garbage never throws).
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

}  // namespace regmirror::proxy::upstream
