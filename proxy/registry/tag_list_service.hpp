#pragma once
// GET /v2/<name>/tags/list (n, last): from the first upstream that answers; when none can (or
// the mirror is offline), the tags this mirror has seen, so a closed network still gets an
// answer. Coroutine; the index is read on the index pool.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>
#include <string>

#include "proxy/registry/cache_outcome.hpp"
#include "proxy/registry/registry_error.hpp"

namespace regmirror::cache {
class MetadataStore;
}

namespace regmirror::proxy::registry {

class UpstreamChain;

struct TagList {
  std::string body;       // {"name": <client repository>, "tags": [...]}
  std::string next_link;  // Link header value when more tags follow
  CacheOutcome outcome = CacheOutcome::kNone;
};

boost::asio::awaitable<Answer<TagList>> list_tags(const UpstreamChain& chain,
                                                  cache::MetadataStore& metadata,
                                                  boost::asio::thread_pool& index_pool,
                                                  bool offline, std::string repository,
                                                  std::optional<std::string> n,
                                                  std::optional<std::string> last);

}  // namespace regmirror::proxy::registry
