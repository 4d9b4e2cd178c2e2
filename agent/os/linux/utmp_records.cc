#include "agent/os/linux/utmp_records.h"

#include <cstring>
#include <string>

namespace warden::linux_os {
namespace {

template <std::size_t N>
std::string field(const char (&chars)[N]) {
  return std::string(chars, ::strnlen(chars, N));
}

}  // namespace

std::optional<UtmpEntry> utmpEntryOf(const struct utmp& u) {
  if (u.ut_type != USER_PROCESS) return std::nullopt;
  UtmpEntry e;
  e.user = field(u.ut_user);
  e.line = field(u.ut_line);
  e.host = field(u.ut_host);
  e.pid = u.ut_pid;
  e.session = u.ut_session;
  // ut_tv holds 32-bit fields (the file is shared with 32-bit programs): no overflow in 64 bits.
  e.login_unix_ms = static_cast<std::int64_t>(u.ut_tv.tv_sec) * 1000 +
                    static_cast<std::int64_t>(u.ut_tv.tv_usec) / 1000;
  return e;
}

std::vector<UtmpEntry> parseUtmpRecords(std::string_view bytes, std::size_t max) {
  std::vector<UtmpEntry> out;
  struct utmp u;
  for (std::size_t at = 0; out.size() < max && bytes.size() - at >= sizeof(u); at += sizeof(u)) {
    std::memcpy(&u, bytes.data() + at, sizeof(u));
    if (auto e = utmpEntryOf(u)) out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace warden::linux_os
