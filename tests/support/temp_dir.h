// A fresh directory under $TMPDIR (or /tmp) for a test, removed with everything in it.
// Header-only, so unit tests can use it without linking the namespace harness.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace warden::testing {

class TempDir {
 public:
  TempDir() : TempDir(defaultBase()) {}
  // Under `base` (a tmpfs such as /dev/shm, for a test that makes many small files).
  explicit TempDir(const std::string& base) {
    std::string tmpl = base + "/warden-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  static std::string defaultBase() {
    const char* base = std::getenv("TMPDIR");
    return base != nullptr && *base != '\0' ? base : "/tmp";
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Permission bits of `path` (07777), or 0xffffffff if it cannot be stat'ed.
inline unsigned modeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0xffffffff;
  return st.st_mode & 07777;
}

}  // namespace warden::testing
