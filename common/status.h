// Early-return helpers for absl::Status / absl::StatusOr, as in gRPC and Envoy.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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
