// The one owner of a file descriptor: closes it when it goes out of scope, moves but never
// copies (as Android's base::unique_fd and Envoy's IoHandle do). Every file, pipe, socket and
// directory descriptor Warden opens is held by one.
#pragma once

#include <unistd.h>

#include <utility>

namespace warden {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Hands the descriptor over: the caller closes it.
  int release() { return std::exchange(fd_, -1); }
  // Closes the one held (if any) and holds `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace warden
