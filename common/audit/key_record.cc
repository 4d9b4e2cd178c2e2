#include "common/audit/key_record.h"

#include "common/canonical.h"
#include "common/status.h"

namespace warden {

std::string encodeKeyRecord(const KeyRecord& k) {
  return canonicalRecord("key", k.version, k.purpose, k.subject, k.role, k.public_key,
                         k.cert_fingerprint);
}

absl::StatusOr<KeyRecord> decodeKeyRecord(std::string_view bytes) {
  KeyRecord k;
  WARDEN_RETURN_IF_ERROR(readCanonicalRecord(bytes, "key", "key record", kKeyRecordVersion,
                                             k.version, k.purpose, k.subject, k.role, k.public_key,
                                             k.cert_fingerprint));
  return k;
}

}  // namespace warden
