// JSON output helpers shared by the CLI, the agent's manifests and the controller's custody
// records. (Parsing, where needed, goes through yaml-cpp: JSON is a subset of YAML 1.2.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace warden {

// Length of the UTF-8 sequence at the start of `v` (1-4), or 0 when it is not valid UTF-8
// (overlong forms and surrogates included). `v` must not be empty.
std::size_t utf8Length(std::string_view v);

// `v` as a quoted JSON string: quotes, backslashes and control characters escaped, invalid
// UTF-8 replaced by U+FFFD so the document stays valid.
std::string jsonString(std::string_view v);

}  // namespace warden
