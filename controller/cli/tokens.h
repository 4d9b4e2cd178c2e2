// `warden token create`: one-time join tokens for enrolling agents.
#pragma once

#include <string>

#include "controller/cli/client.h"

namespace warden::cli {

// Prints a join token valid for `ttl_text`, for `host_id` only when it is not empty.
int tokenCreate(const Globals& g, const std::string& ttl_text, const std::string& host_id);

}  // namespace warden::cli
