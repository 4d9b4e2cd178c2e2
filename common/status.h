// Early-return helpers for absl::Status / absl::StatusOr, as in gRPC and Envoy, and the one
// way a failed system call becomes a Status.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden {

// errno as a Status: "TEXT: strerror(err)", coded by what the failure means to a caller:
//   NotFound           ENOENT ENODEV ENXIO ESRCH
//   PermissionDenied   EACCES EPERM EROFS
//   ResourceExhausted  ENOSPC EDQUOT EMFILE ENFILE ENOMEM EFBIG
//   AlreadyExists      EEXIST
//   Unavailable        ECONNREFUSED ECONNRESET ENETUNREACH EHOSTUNREACH ETIMEDOUT EPIPE EAGAIN
//   Internal           everything else
absl::Status errnoStatus(int err, std::string_view text);
// "Failed to WHAT PATH: strerror(err)", coded as above.
absl::Status errnoStatus(std::string_view what, std::string_view path, int err);

}  // namespace warden

#define WARDEN_CONCAT_INNER(a, b) a##b
#define WARDEN_CONCAT(a, b) WARDEN_CONCAT_INNER(a, b)

#define WARDEN_RETURN_IF_ERROR(expr)              \
  do {                                            \
    if (auto _st = (expr); !_st.ok()) return _st; \
  } while (0)

#define WARDEN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(*tmp)

// WARDEN_ASSIGN_OR_RETURN(auto x, f()); or WARDEN_ASSIGN_OR_RETURN(existing, f());
#define WARDEN_ASSIGN_OR_RETURN(lhs, expr) \
  WARDEN_ASSIGN_OR_RETURN_IMPL(WARDEN_CONCAT(_warden_or_, __LINE__), lhs, expr)
