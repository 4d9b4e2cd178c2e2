// Actions on one host that answer with a report: `warden sessions`, `kill-sessions`,
// `lock-accounts`, `unlock-accounts`, `revoke-keys`, `restore-keys` and `shutdown`; and
// hostAction(), which submits any one host action and waits for its receipt (evidence.cc uses it
// for image and collect too).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/crypto/encoding.h"
#include "common/json.h"
#include "controller/cli/client.h"

namespace warden::cli {

// The result message a host action's receipt carries (details["result"], base64 protobuf).
template <typename Message>
bool decodeResult(const v1::Action& a, Message* out) {
  auto it = a.details().find("result");
  if (it == a.details().end()) return false;
  auto raw = crypto::unbase64(it->second);
  return raw.ok() && out->ParseFromString(*raw);
}

// Submits host action `kind` with `args` to `host` and waits up to `timeout_text` for its
// receipt (image and collect: polling, with a progress line on a terminal). Prints where it
// ended, then `render` when it succeeded; with --json {"action": ...} and whatever
// `json_extra` adds to that object.
int hostAction(const Globals& g, const std::string& kind, const std::string& host,
               const std::vector<std::string>& args, const std::string& timeout_text,
               const std::function<void(const v1::Action&)>& render,
               const std::function<void(const v1::Action&, Json&)>& json_extra = nullptr);

int sessionsCmd(const Globals& g, const std::string& host);
// `selectors`: "key=value" in the order given (user, session, tty, from, pid, except).
int killSessionsCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                    bool dry_run);
// `selectors`: user= and except=; `all` for every login account (and root).
int lockAccountsCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                    bool all, bool rotate_root);
int unlockAccountsCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                      bool all);
// `selectors`: user= and fingerprint= (checked here: exit 2 before anything is sent).
int revokeKeysCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                  bool dry_run);
int restoreKeysCmd(const Globals& g, const std::string& host);
// Power off, or `reboot` / `halt`; `now` skips the init system. Refused without `yes`.
int shutdownCmd(const Globals& g, const std::string& host, bool reboot, bool halt, bool now,
                bool yes);

}  // namespace warden::cli
