// utmp(5) records as HostProcesses::utmp() reads them from /run/utmp: a file any process with
// the utmp group (and root on an attacker's host) writes, so its strings are not terminated,
// its numbers not sane. Pure, so it is fuzzed (tests/fuzz/agent_utmp.cc).
#pragma once

#include <utmp.h>

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/os/processes.h"

namespace warden::linux_os {

// The entry of a USER_PROCESS record; nullopt for every other type.
std::optional<UtmpEntry> utmpEntryOf(const struct utmp& record);

// The USER_PROCESS entries of whole records in `bytes` (a trailing partial record is ignored),
// at most `max`.
std::vector<UtmpEntry> parseUtmpRecords(std::string_view bytes, std::size_t max);

}  // namespace warden::linux_os
