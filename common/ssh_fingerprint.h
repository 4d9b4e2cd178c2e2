// An OpenSSH SHA-256 key fingerprint as `ssh-keygen -l` prints it and revoke-keys takes it:
// checked the same way by the CLI (exit 2), the controller's request policy and the agent.
#pragma once

#include <string_view>

namespace warden {

// "SHA256:" followed by exactly 43 characters of the standard base64 alphabet (no padding),
// the last one of the 16 that can end an encoded 256-bit value (its low two bits are zero).
bool validSshFingerprint(std::string_view fingerprint);

}  // namespace warden
