#pragma once
// GET /v2/<name>/tags/list (n, last): from the first upstream that answers; when none can, the
// tags this mirror has seen, so a closed network still gets an answer.
// Blocking: call from worker threads.
#include <optional>
#include <string>

#include "proxy/registry/cache_outcome.hpp"
#include "proxy/registry/oci_error.hpp"

namespace regmirror::cache {
class MetadataStore;
}

namespace regmirror::proxy::registry {

class UpstreamChain;

struct TagListAnswer {
  std::optional<OciError> error;
  std::string message;
  std::string body;  // {"name": <client repository>, "tags": [...]}
  std::string next_link;  // Link header value when more tags follow
  CacheOutcome outcome = CacheOutcome::kNone;
};

TagListAnswer list_tags(const UpstreamChain& chain, cache::MetadataStore& metadata, bool offline,
                        const std::string& repository, const std::optional<std::string>& n,
                        const std::optional<std::string>& last);

}  // namespace regmirror::proxy::registry
