#pragma once
// GET /v2/<name>/referrers/<digest>: the upstreams' answer (an OCI image index of the
// manifests whose subject is <digest>). Offline, no upstream is contacted: the answer is 404
// as from a registry without the referrers API, so clients use the tag-schema fallback
// (sha256-<hex>), which the cache serves like any tag.
#include <boost/asio/awaitable.hpp>
#include <string>

#include "proxy/registry/registry_error.hpp"

namespace regmirror::proxy::registry {

class UpstreamChain;

struct Referrers {
  std::string body;
  std::string content_type;
  std::string filters_applied;  // OCI-Filters-Applied, when the upstream filtered
};

boost::asio::awaitable<Answer<Referrers>> fetch_referrers(const UpstreamChain& chain, bool offline,
                                                          std::string repository,
                                                          std::string digest);

}  // namespace regmirror::proxy::registry
