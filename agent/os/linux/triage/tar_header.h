// The tar headers of the triage bundle (POSIX.1-2001 pax Interchange Format): 512-byte ustar
// headers with the source's mode, numeric uid and gid and mtime (no user or group names: the
// host's own passwd is in the bundle); a pax extended header ('x') precedes an entry whose name
// or link target is longer than 100 bytes, whose size is 8 GiB or more, whose ids do not fit 7
// octal digits or whose mtime is before 1970 (a timestomped file) or past 2242. A long name or
// target that is not UTF-8 comes with hdrcharset=BINARY, as POSIX asks (GNU tar 1.34 does not
// know the keyword, says so once, and extracts the raw bytes all the same). The archive ends
// with two zero blocks (BundleWriter::finish).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace warden::triage {

inline constexpr std::size_t kBlock = 512;  // tar block

struct TarEntry {
  std::string name;
  char type = '0';  // '0' file, '1' hard link, '2' symlink, '5' directory, 'x' pax header
  std::uint32_t mode = 0444;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::int64_t mtime = 0;  // seconds since the epoch
  std::uint64_t size = 0;
  std::string link;
};

// The headers of `e`: a pax extended header (with its data, padded) when ustar cannot hold
// something, then the ustar header.
std::string tarHeaders(const TarEntry& e);

}  // namespace warden::triage
