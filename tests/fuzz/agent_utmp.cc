// parseUtmpRecords: /run/utmp, writable by the utmp group and by root on an attacker's host.
// Strings come back bounded by their fields (never read past an unterminated one), at most
// `max` entries, one per USER_PROCESS record, in file order.
#include <utmp.h>

#include <cstring>

#include "agent/os/linux/utmp_records.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  constexpr std::size_t kMax = 16;
  const std::vector<UtmpEntry> entries = linux_os::parseUtmpRecords(bytes, kMax);
  FUZZ_CHECK(entries.size() <= kMax);
  std::size_t user_records = 0;
  struct utmp u;
  for (std::size_t at = 0; bytes.size() - at >= sizeof(u) && user_records < kMax; at += sizeof(u)) {
    std::memcpy(&u, bytes.data() + at, sizeof(u));
    if (u.ut_type != USER_PROCESS) continue;
    const UtmpEntry& e = entries.at(user_records++);
    FUZZ_CHECK(e.user.size() <= sizeof(u.ut_user) && e.line.size() <= sizeof(u.ut_line) &&
               e.host.size() <= sizeof(u.ut_host));
    FUZZ_CHECK(e.user.find('\0') == std::string::npos && e.host.find('\0') == std::string::npos);
    FUZZ_CHECK(std::memcmp(e.user.data(), u.ut_user, e.user.size()) == 0);
    FUZZ_CHECK(e.pid == u.ut_pid && e.session == u.ut_session);
  }
  FUZZ_CHECK(entries.size() == user_records);
  return 0;
}
