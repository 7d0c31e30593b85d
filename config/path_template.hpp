#pragma once
// Upstream path templates: map the client's repository to the upstream's.
//   {repo}      the whole repository          kube-proxy -> kube-proxy
//   {owner}     its first path segment        OWNER/REPOSITORY/IMAGE -> OWNER
//   {basename}  its last path segment         sig-storage/csi-attacher -> csi-attacher
// Anything else is literal: "container_service/{basename}".
#include <string>
#include <string_view>

namespace regmirror::config {

// Validates a template at config load: known placeholders only, balanced braces, and the
// literal parts must keep the result a valid repository name. Returns "" or the reason.
std::string check_path_template(std::string_view tmpl);

struct Expansion {
  std::string repository;  // the upstream's repository when error is empty
  std::string error;       // why the template does not apply to this repository
  explicit operator bool() const { return error.empty(); }
};

// Expands a checked template. Fails when the repository has no owner segment for {owner} or
// the result is not a valid repository name.
Expansion expand_path_template(std::string_view tmpl, std::string_view repository);

}  // namespace regmirror::config
