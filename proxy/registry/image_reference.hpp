#pragma once
// Image references as operators write them ("k8s.gcr.io/pause:3.2", "nvidia/k8s-device-plugin",
// "alpine@sha256:..."): the first segment is a registry host when it has a '.' or ':' or is
// "localhost" (Docker's rule); otherwise the image is on docker.io, where one-segment names get
// "library/". Tag and digest are both optional here: callers decide what a bare name means.
#include <string>
#include <string_view>

#include "config/result.hpp"

namespace regmirror::proxy::registry {

struct ImageReference {
  std::string host;        // as written, e.g. "k8s.gcr.io" (an alias is not resolved here)
  std::string repository;  // "pause", "library/alpine"
  std::string tag;         // empty when absent
  std::string digest;      // empty when absent

  // host/repository[:tag][@digest]
  std::string str() const;
  // host/repository
  std::string name() const { return host + "/" + repository; }
};

// The reason, as one sentence naming the bad part, for anything that fails the distribution
// grammar.
Result<ImageReference, MessageError> parse_image_reference(std::string_view text);

}  // namespace regmirror::proxy::registry
