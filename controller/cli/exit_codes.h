// The `warden` CLI's exit codes (DESIGN.md, CLI contract): scripts branch on them.
#pragma once

namespace warden::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNotAuthorised = 3;
inline constexpr int kExitPending = 4;

}  // namespace warden::cli
