// What a test fleet records, and where (fleet.h): STATE_ROOT/LABEL/fleet and
// STATE_ROOT/LABEL/hosts/NAME[.exit] as key=value lines written atomically, host directories
// under SCRATCH_ROOT/LABEL/, and the labels and host names it accepts. Internal to
// tests/support.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/fleet.h"

namespace warden::testing {

bool validLabel(const std::string& label);    // 1-24 of [A-Za-z0-9_]
bool validHostName(const std::string& name);  // 1-32 of [a-z0-9-], not "lan"
// $NAME, or `fallback` when it is unset or empty.
std::string envOr(const char* name, const std::string& fallback);
// `o` with the default roots filled in (from the environment) and trailing slashes removed.
FleetOptions resolve(FleetOptions o);
// warden-test-init: options.init_path, $WARDEN_TEST_INIT, next to this executable, or in
// WARDEN_BIN_DIR.
absl::StatusOr<std::string> initPath(const FleetOptions& o);

absl::StatusOr<std::map<std::string, std::string>> readKeyValues(const std::string& path);
// kv[key] as a number, or `fallback` when it is missing or not one.
long long numberOr(const std::map<std::string, std::string>& kv, const std::string& key,
                   long long fallback);
// Writes PATH.tmp and renames it over `path`.
absl::Status writeAtomically(const std::string& path, const std::string& content);
// "owner_pid=PID\nowner_start=TICKS\n" of this process.
std::string ownerLine();

absl::Status makeDirs(const std::string& dir);
// rm -rf that never crosses into another file system (a loop device a test mounted there).
absl::Status removeTree(const std::string& path);
// The names in `dir` but . and .., sorted; none if it cannot be read.
std::vector<std::string> listDir(const std::string& dir);

}  // namespace warden::testing
