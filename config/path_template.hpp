#pragma once
// Upstream path templates: map the client's repository to the upstream's.
//   {repo}      the whole repository          kube-proxy -> kube-proxy
//   {owner}     its first path segment        OWNER/REPOSITORY/IMAGE -> OWNER
//   {basename}  its last path segment         sig-storage/csi-attacher -> csi-attacher
// Anything else is literal: "container_service/{basename}".
#include <string>
#include <string_view>

#include "config/result.hpp"

namespace regmirror::config {

// Validates a template at config load: known placeholders only, balanced braces, and the
// literal parts must keep the result a valid repository name. Fails with the reason.
Result<void, MessageError> check_path_template(std::string_view tmpl);

// Expands a checked template into the upstream's repository. Fails (saying why the template
// does not apply to this repository) when the repository has no owner segment for {owner} or
// the result is not a valid repository name.
Result<std::string, MessageError> expand_path_template(std::string_view tmpl,
                                                       std::string_view repository);

}  // namespace regmirror::config
