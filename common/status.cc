#include "common/status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace warden {

absl::Status errnoStatus(int err, std::string_view text) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ESRCH:
      code = absl::StatusCode::kNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = absl::StatusCode::kPermissionDenied;
      break;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EFBIG:
      code = absl::StatusCode::kResourceExhausted;
      break;
    case EEXIST:
      code = absl::StatusCode::kAlreadyExists;
      break;
    case ECONNREFUSED:
    case ECONNRESET:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
    case EPIPE:
    case EAGAIN:
      code = absl::StatusCode::kUnavailable;
      break;
    default:
      break;
  }
  std::string message(text);
  message += ": ";
  message += std::strerror(err);
  return absl::Status(code, message);
}

absl::Status errnoStatus(std::string_view what, std::string_view path, int err) {
  std::string text = "Failed to ";
  text.append(what).append(" ").append(path);
  return errnoStatus(err, text);
}

}  // namespace warden
