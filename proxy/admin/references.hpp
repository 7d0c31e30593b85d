#pragma once
// Image references as the admin API takes them ("registry.k8s.io/pause:3.2", aliases allowed),
// resolved against the configured registries, and the tag cursor of a cache listing.
#include <optional>
#include <string>

#include "cache/metadata_store.hpp"
#include "config/result.hpp"
#include "config/routing_table.hpp"

namespace regmirror::proxy::admin {

// A reference resolved against the configured registries: the canonical pin key and where its
// tag lives. `tag` or `digest` is set.
struct ResolvedRef {
  std::string key;  // "registry.k8s.io/pause:3.2" (canonical registry name)
  cache::TagKey tag_key;
  std::string tag;
  std::string digest;
};

// Why not, when the text is not a reference or names an unserved registry.
Result<ResolvedRef, MessageError> resolve_ref(const config::RoutingTable& routes,
                                              const std::string& text);
// "registry/repository:tag" as a tag key (the cursor of a cache listing); nullopt otherwise.
std::optional<cache::TagKey> parse_tag_ref(const std::string& ref);

}  // namespace regmirror::proxy::admin
