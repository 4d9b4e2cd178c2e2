// The immutable attribute (FS_IMMUTABLE_FL, chattr +i) on the files of complete evidence: not
// even root can change or delete them without lifting it first (ioctl_iflags(2)).
#pragma once

#include <string>

namespace warden {

// Sets FS_IMMUTABLE_FL on `path` (read-modify-write of the inode flags). Returns false (and
// says why in `why`) when the file system does not support it or the process may not.
bool makeImmutable(const std::string& path, std::string* why);
// Whether `path` carries FS_IMMUTABLE_FL now (false with `why` when it cannot be read).
bool isImmutable(const std::string& path, std::string* why);
// Lifts FS_IMMUTABLE_FL (recovering an item whose commit a crash interrupted).
bool clearImmutable(const std::string& path, std::string* why);

}  // namespace warden
