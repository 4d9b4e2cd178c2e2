#include "controller/dispatch/request_policy.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "common/audit/agent_release.h"
#include "common/audit/incident.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/net.h"
#include "common/request_lists.h"
#include "common/ssh_fingerprint.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::size_t kMaxHostsPerRequest = 1000;
constexpr std::size_t kMaxAllowEntries = 64;
constexpr std::size_t kMaxBlockAddresses = 1024;
// A signed request is accepted this long after (or before, for clock skew) it was made.
constexpr std::int64_t kRequestWindowMs = 10 * 60 * 1000;

// The argument keys each host action takes (agent/actions/host_actions.h reads them); a kind
// not listed takes none.
bool takesArgument(const std::string& kind, const std::string& key) {
  static const auto* const kArgs = new std::map<std::string, std::set<std::string>>{
      {"kill-sessions", {"user", "session", "tty", "from", "pid", "except", "dry_run"}},
      {"lock-accounts", {"user", "all", "except", "rotate_root", "recipient"}},
      {"unlock-accounts", {"user", "all"}},
      {"revoke-keys", {"user", "fingerprint", "dry_run"}},
      {"shutdown", {"mode", "now"}},
      {"image", {"device", "all_disks", "rate", "compress"}},
      {"collect", {"rate", "max_member_mb", "max_total_mb"}},
  };
  auto it = kArgs->find(kind);
  return it != kArgs->end() && it->second.contains(key);
}

}  // namespace

absl::Status validateHostActionArgs(const std::string& kind, const std::vector<std::string>& args) {
  if (args.size() > 256) return absl::InvalidArgumentError("too many arguments");
  bool selector = false, all = false, users = false;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (eq == std::string::npos || !takesArgument(kind, key) || value.empty() ||
        value.size() > 1024) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid argument '%s' for %s", a, kind));
    }
    if (key == "from") WARDEN_RETURN_IF_ERROR(IpPrefix::parse(value).status());
    if (key == "pid" &&
        (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 9)) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid pid '%s'", value));
    }
    if (key == "compress" && value != "zstd" && value != "none") {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown compression '%s' (zstd or none)", value));
    }
    if ((key == "rate" || key == "max_member_mb" || key == "max_total_mb") &&
        (value.find_first_not_of("0123456789.") != std::string::npos || value.size() > 12 ||
         std::atof(value.c_str()) <= 0)) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid %s '%s'", key, value));
    }
    if (key == "fingerprint" && !validSshFingerprint(value)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "malformed fingerprint '%s' (SHA256:... as ssh-keygen -l prints it)", value));
    }
    if (key == "mode" && value != "poweroff" && value != "reboot" && value != "halt") {
      return absl::InvalidArgumentError(absl::StrFormat("invalid shutdown mode '%s'", value));
    }
    if (key == "user" || key == "session" || key == "tty" || key == "from" || key == "pid") {
      selector = true;
    }
    users = users || key == "user";
    all = all || key == "all";
  }
  if (kind == "image") {
    // Several devices may be named; --all-disks adds every whole disk (loop, ram and zram
    // devices only when named).
    int devices = 0, bad = 0, all_disks = 0;
    for (const auto& a : args) {
      if (a.rfind("device=", 0) == 0) (a.size() > 8 && a[7] == '/' ? devices : bad) += 1;
      if (a.rfind("all_disks=", 0) == 0) ++all_disks;
    }
    if (bad > 0 || devices + all_disks == 0) {
      return absl::InvalidArgumentError("image needs an absolute device path, or --all-disks");
    }
  }
  if (kind == "kill-sessions" && !selector) {
    return absl::InvalidArgumentError("kill-sessions needs at least one selector");
  }
  if (kind == "revoke-keys" && std::none_of(args.begin(), args.end(), [](const std::string& a) {
        return a.starts_with("user=") || a.starts_with("fingerprint=");
      })) {
    return absl::InvalidArgumentError("revoke-keys needs --user NAME or --fingerprint FP");
  }
  if ((kind == "lock-accounts" || kind == "unlock-accounts") && users == all) {
    return absl::InvalidArgumentError("name the accounts with --user, or use --all (not both)");
  }
  return absl::OkStatus();
}

absl::StatusOr<Request> RequestPolicy::verifySignedRequest(const OperatorRecord& op,
                                                           const std::string& bytes,
                                                           const std::string& signature) {
  if (bytes.empty() || signature.empty()) {
    return absl::InvalidArgumentError(
        "the request is not signed (a warden CLI older than the action log?)");
  }
  if (op.signing_public_key.size() != 32) {
    return absl::FailedPreconditionError(
        absl::StrFormat("operator %s has no signing key on record", op.name));
  }
  if (auto v = crypto::ed25519Verify(op.signing_public_key, bytes, signature); !v.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the request's signature does not verify under %s's signing key", op.name));
  }
  WARDEN_ASSIGN_OR_RETURN(Request r, decodeRequest(bytes));
  if (r.operator_name != op.name) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "the request is signed for operator '%s', not %s", r.operator_name, op.name));
  }
  if (r.id.size() != 18 || r.id.rfind("r-", 0) != 0 ||
      r.id.find_first_not_of("0123456789abcdef", 2) != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid request id '%s'", r.id));
  }
  const std::int64_t now = nowUnixMs();
  if (r.issued_unix_ms < now - kRequestWindowMs || r.issued_unix_ms > now + kRequestWindowMs) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "request %s was made at %d ms, more than 10 minutes from the controller's clock", r.id,
        r.issued_unix_ms));
  }
  WARDEN_RETURN_IF_ERROR(keys_.registry->addRequestId(r.id, op.name, now));
  return r;
}

absl::StatusOr<DispatchPlan> RequestPolicy::plan(const Request& r) {
  const std::string& kind = r.kind;
  const bool blocks = kind == "block" || kind == "unblock";
  if (!knownCommandKind(kind)) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown action '%s'", kind));
  }
  const bool host_action = !blocks && kind != "isolate" && kind != "release";
  if (kind == "isolate") {
    // At most its duration (isolate --for).
    WARDEN_RETURN_IF_ERROR(isolateForMs(r.args).status());
  } else if (!host_action && !r.args.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s takes no arguments", kind));
  }
  if (host_action) {
    WARDEN_RETURN_IF_ERROR(validateHostActionArgs(kind, r.args));
    if (r.hosts.size() != 1) {
      return absl::InvalidArgumentError(absl::StrFormat("%s acts on exactly one host", kind));
    }
  }
  if (r.all_hosts && (!blocks || !r.hosts.empty())) {
    return absl::InvalidArgumentError("--all goes with block/unblock and no host names");
  }
  if (r.hosts.empty() && !r.all_hosts) return absl::InvalidArgumentError("no host named");
  if (r.hosts.size() > kMaxHostsPerRequest) {
    return absl::InvalidArgumentError("too many hosts in one request");
  }
  if (r.allow.size() > kMaxAllowEntries) {
    return absl::InvalidArgumentError("too many --allow entries");
  }
  if (kind != "isolate" && !r.allow.empty()) {
    return absl::InvalidArgumentError("--allow only applies to isolate");
  }
  if (blocks != !r.addresses.empty()) {
    return absl::InvalidArgumentError(blocks ? "no address to block"
                                             : "addresses only apply to block/unblock");
  }
  if (r.addresses.size() > kMaxBlockAddresses) {
    return absl::InvalidArgumentError("too many addresses in one request");
  }
  if (r.reason.size() > 4096) return absl::InvalidArgumentError("reason is too long");
  DispatchPlan plan;
  RejectedElement rejected;
  auto lists = normalizeRequestLists(r.allow, r.addresses, &rejected);
  if (!lists.ok()) {
    // A bad allow entry is refused in the words it always was, as an address (the refusal is
    // in the log).
    if (rejected.allow) {
      if (auto as_address = IpPrefix::parse(rejected.text); !as_address.ok()) {
        return as_address.status();
      }
    }
    return lists.status();
  }
  if (kind == "block") {
    for (const auto& a : lists->addresses) WARDEN_RETURN_IF_ERROR(refuseControllerBlock(a));
  }
  plan.kind = kind;
  plan.all_hosts = r.all_hosts;
  plan.reason = r.reason;
  plan.allow = std::move(lists->allow);
  plan.addresses = std::move(lists->addresses);
  plan.args = r.args;
  // By key, whatever the value: the agent decides what a value means.
  plan.needs_connected_host =
      kind == "lock-accounts" && std::any_of(r.args.begin(), r.args.end(), [](const auto& a) {
        return a.starts_with("rotate_root=") || a.starts_with("recipient=");
      });
  if (!r.incident.empty()) {
    if (!validIncidentId(r.incident)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid incident id '%s'", r.incident.substr(0, 40)));
    }
    auto incident = keys_.registry->findIncident(r.incident);
    if (!incident.ok() || incident->id != r.incident) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown incident %s", r.incident));
    }
    if (!incident->open()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("incident %s (%s) is closed: open a new one, or act without --incident",
                          incident->codename, r.incident));
    }
    plan.incident = r.incident;
  }
  plan.hosts = r.hosts;
  if (r.all_hosts) {
    WARDEN_ASSIGN_OR_RETURN(auto all, keys_.registry->listHosts());
    for (const auto& h : all) plan.hosts.push_back(h.host_id);
  }
  for (const auto& h : plan.hosts) {
    if (auto found = keys_.registry->findHost(h); !found.ok()) return found.status();
  }
  return plan;
}

absl::Status RequestPolicy::refuseControllerBlock(const std::string& address) {
  WARDEN_ASSIGN_OR_RETURN(IpPrefix p, IpPrefix::parse(address));
  for (const std::string& endpoint : {keys_.listen, keys_.advertise}) {
    auto hp = HostPort::parse(endpoint);
    if (!hp.ok()) continue;
    auto addr = IpPrefix::parse(hp->host);
    if (addr.ok() && p.contains(*addr)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("refusing to block %s: it covers the controller's address %s",
                          p.toString(), addr->toString()));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
