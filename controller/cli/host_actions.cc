#include "controller/cli/host_actions.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/crypto/seal.h"
#include "common/net.h"
#include "common/ssh_fingerprint.h"
#include "controller/cli/actions.h"
#include "controller/cli/duration.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/progress.h"
#include "controller/cli/render.h"
#include "warden/v1/results.pb.h"

namespace warden::cli {

int hostAction(const Globals& g, const std::string& kind, const std::string& host,
               const std::vector<std::string>& args, const std::string& timeout_text,
               const std::function<void(const v1::Action&)>& render,
               const std::function<void(const v1::Action&, Json&)>& json_extra) {
  auto timeout = parseDuration(timeout_text);
  if (!timeout.ok()) {
    printError(std::string(timeout.status().message()));
    return kExitBadInput;
  }
  v1::SubmitRequest req;
  req.set_kind(kind);
  req.add_hosts(host);
  for (const auto& a : args) req.add_args(a);
  // Evidence transfers take longer than the controller holds a call open (10 minutes): the CLI
  // polls until --timeout instead, drawing the progress on a terminal.
  const bool poll = kind == "image" || kind == "collect";
  const bool draw = poll && !g.json && isatty(STDERR_FILENO) != 0;
  req.set_wait_ms(poll ? 0 : static_cast<std::uint32_t>(absl::ToInt64Milliseconds(*timeout)));
  return withClient(g, [&](Client& c) {
    v1::SubmitResponse resp;
    if (int rc = signAndSubmit(g, c, req, *timeout + absl::Seconds(10), resp); rc != kExitOk) {
      return rc;
    }
    if (resp.actions_size() != 1) {
      printError("the controller returned no action");
      return kExitFailed;
    }
    if (poll) {
      auto done = waitShowingProgress(c, resp.actions(0).id(), *timeout, draw);
      if (!done.ok()) {
        printError(
            absl::StrFormat("lost the controller while waiting for %s: %s ('warden "
                            "action %s' shows where it stands)",
                            resp.actions(0).id(), done.status().message(), resp.actions(0).id()));
        return kExitPending;
      }
      *resp.mutable_actions(0) = *done;
    }
    const v1::Action& a = resp.actions(0);
    int rc = actionExitCode(resp);
    auto err = a.details().find("error");
    if (rc == kExitFailed && err != a.details().end() && err->second == "invalid-argument") {
      rc = kExitBadInput;
    }
    if (g.json) {
      Json out = Json::object();
      out["action"] = messageJson(a);
      if (json_extra) json_extra(a, out);
      std::printf("%s\n", dumpJson(out, 1).c_str());
      return rc;
    }
    printHostActionOutcome(kind, host, a);
    if (a.state() == "succeeded") render(a);
    return rc;
  });
}

namespace {

// `--json`'s "result": the receipt's result message, when it has one.
template <typename Message>
void addResult(const v1::Action& a, Json& out) {
  Message m;
  if (decodeResult(a, &m)) out["result"] = messageJson(m);
}

// Prints the receipt's result message with `print`, when it has one.
template <typename Message>
std::function<void(const v1::Action&)> showResult(void (*print)(const Message&)) {
  return [print](const v1::Action& a) {
    Message m;
    if (decodeResult(a, &m)) print(m);
  };
}

// Either the accounts are named (--user) or `all` is given: exactly one of the two.
bool accountsNamedOrAll(const std::vector<std::string>& selectors, bool all) {
  const bool users = std::any_of(selectors.begin(), selectors.end(),
                                 [](const std::string& s) { return s.rfind("user=", 0) == 0; });
  if (users == all) {
    printError("name the accounts with --user NAME, or use --all (not both)");
    return false;
  }
  return true;
}

}  // namespace

int sessionsCmd(const Globals& g, const std::string& host) {
  return hostAction(g, "sessions", host, {}, "30s", showResult(&printSessions),
                    addResult<v1::SessionList>);
}

int killSessionsCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                    bool dry_run) {
  bool any = false;
  for (const auto& s : selectors) any = any || s.rfind("except=", 0) != 0;
  if (!any) {
    printError("kill-sessions needs a selector: --user, --session, --tty, --from or --pid");
    return kExitBadInput;
  }
  for (const auto& a : selectors) {
    if (a.rfind("from=", 0) == 0) {
      if (auto p = IpPrefix::parse(a.substr(5)); !p.ok()) {
        printError(std::string(p.status().message()));
        return kExitBadInput;
      }
    }
  }
  if (dry_run) selectors.push_back("dry_run=1");
  return hostAction(g, "kill-sessions", host, selectors, "60s", showResult(&printKillReport),
                    addResult<v1::KillReport>);
}

int lockAccountsCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                    bool all, bool rotate_root) {
  if (!accountsNamedOrAll(selectors, all)) return kExitBadInput;
  if (all) selectors.push_back("all=1");
  // The new root password is sealed by the agent to a key only this process holds: the
  // controller, its database and its log only ever see ciphertext.
  crypto::X25519KeyPair key;
  if (rotate_root) {
    auto k = crypto::generateX25519();
    if (!k.ok()) {
      printError(std::string(k.status().message()));
      return kExitFailed;
    }
    key = *k;
    selectors.push_back("rotate_root=1");
    selectors.push_back("recipient=" + crypto::base64(key.public_key));
  }
  auto password = [key](const v1::Action& a) -> std::string {
    v1::AccountReport r;
    if (!decodeResult(a, &r) || r.sealed_root_password().empty()) return "";
    auto clear = crypto::openSealed(key.private_key, r.sealed_root_password());
    return clear.ok() ? *clear : "";
  };
  return hostAction(
      g, "lock-accounts", host, selectors, "60s",
      [&](const v1::Action& a) {
        showResult (&printAccountReport)(a);
        if (rotate_root) printRootPassword(password(a));
      },
      [&](const v1::Action& a, Json& out) {
        addResult<v1::AccountReport>(a, out);
        if (rotate_root) out["root_password"] = password(a);
      });
}

int unlockAccountsCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                      bool all) {
  if (!accountsNamedOrAll(selectors, all)) return kExitBadInput;
  if (all) selectors.push_back("all=1");
  return hostAction(g, "unlock-accounts", host, selectors, "60s", showResult(&printAccountReport),
                    addResult<v1::AccountReport>);
}

int revokeKeysCmd(const Globals& g, const std::string& host, std::vector<std::string> selectors,
                  bool dry_run) {
  if (selectors.empty()) {
    printError("revoke-keys needs --user NAME or --fingerprint SHA256:...");
    return kExitBadInput;
  }
  for (const auto& s : selectors) {
    if (s.starts_with("fingerprint=") && !validSshFingerprint(s.substr(12))) {
      printError(absl::StrFormat(
          "malformed fingerprint '%s' (SHA256: and 43 base64 characters, as ssh-keygen -l "
          "prints it); nothing was sent",
          s.substr(12)));
      return kExitBadInput;
    }
  }
  if (dry_run) selectors.push_back("dry_run=1");
  return hostAction(g, "revoke-keys", host, selectors, "60s", showResult(&printSshKeyReport),
                    addResult<v1::SshKeyReport>);
}

int restoreKeysCmd(const Globals& g, const std::string& host) {
  return hostAction(g, "restore-keys", host, {}, "60s", showResult(&printSshKeyReport),
                    addResult<v1::SshKeyReport>);
}

int shutdownCmd(const Globals& g, const std::string& host, bool reboot, bool halt, bool now,
                bool yes) {
  if (!yes) {
    printError("shutdown needs --yes (it powers the host off; nothing was sent)");
    return kExitBadInput;
  }
  const std::string mode = reboot ? "reboot" : halt ? "halt" : "poweroff";
  return hostAction(g, "shutdown", host, {"mode=" + mode, now ? "now=1" : "now=0"}, "60s",
                    [](const v1::Action&) {});
}

}  // namespace warden::cli
