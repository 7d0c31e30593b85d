#pragma once
// The repositories a managed cluster pulls at creation (DESIGN.md, appendix). Repositories
// only: their tags always come from the registry (`tags/list`), never from this list.
#include <string>
#include <vector>

namespace regmirror::app {

const std::vector<std::string>& base_image_set();

}  // namespace regmirror::app
