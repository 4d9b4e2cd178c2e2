#include "controller/cli/cli.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/audit.h"
#include "common/audit_export.h"
#include "common/audit_verify.h"
#include "common/command.h"
#include "common/crypto.h"
#include "common/evidence_verify.h"
#include "common/files.h"
#include "common/json.h"
#include "common/merkle.h"
#include "common/net.h"
#include "common/note.h"
#include "common/profile.h"
#include "warden/v1/operator.grpc.pb.h"
#include "warden/v1/results.pb.h"

namespace warden::cli {
namespace {

struct Globals {
  std::string profile_path;
  bool json = false;
};

void printError(const std::string& what) { std::fprintf(stderr, "warden: %s\n", what.c_str()); }

int exitFor(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return kExitBadInput;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return kExitNotAuthorised;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitPending;
    default:
      return kExitFailed;
  }
}

int reportRpcError(const grpc::Status& s) {
  std::string msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    msg = "cannot reach the controller: " + msg;
  }
  printError(msg);
  return exitFor(s);
}

std::string toJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string formatTime(std::int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string formatAgo(std::int64_t unix_ms) {
  if (unix_ms == 0) return "never";
  const auto d = absl::Now() - absl::FromUnixMillis(unix_ms);
  if (d < absl::Seconds(2)) return "now";
  if (d < absl::Minutes(2)) return absl::StrFormat("%ds ago", absl::ToInt64Seconds(d));
  if (d < absl::Hours(2)) return absl::StrFormat("%dm ago", absl::ToInt64Minutes(d));
  return absl::StrFormat("%dh ago", absl::ToInt64Hours(d));
}

class Client {
 public:
  static absl::StatusOr<Client> connect(const Globals& g) {
    std::string path = g.profile_path;
    if (path.empty()) {
      if (const char* env = std::getenv("WARDEN_PROFILE"); env != nullptr) path = env;
    }
    if (path.empty()) {
      return absl::InvalidArgumentError(
          "no operator profile: pass --profile FILE or set WARDEN_PROFILE");
    }
    auto profile = loadProfile(path);
    if (!profile.ok()) return profile.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = profile->ca_pem;
    ssl.pem_private_key = profile->key_pem;
    ssl.pem_cert_chain = profile->cert_pem;
    grpc::ChannelArguments args;
    // The controller's certificate always names "warden-controller", whatever address
    // operators use to reach it.
    args.SetSslTargetNameOverride("warden-controller");
    args.SetMaxReceiveMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel(profile->controller, grpc::SslCredentials(ssl), args);
    return Client{std::move(*profile), v1::Operator::NewStub(channel)};
  }

  std::unique_ptr<grpc::ClientContext> context(absl::Duration timeout) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
    return ctx;
  }

  OperatorProfile profile;
  std::unique_ptr<v1::Operator::Stub> stub;
};

// Signs the request with the operator's signing key (common/audit.h Request): the controller
// acts on, and logs, exactly what the operator signed.
// Fills in the request's id, operator and time and signs it: {bytes, signature}.
absl::StatusOr<std::pair<std::string, std::string>> signedRequest(const Client& c, Request r) {
  auto key = crypto::Ed25519Key::fromPem(c.profile.signing_key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the profile's signing key is unusable: %s", key.status().message()));
  }
  auto rnd = crypto::randomBytes(8);
  if (!rnd.ok()) return rnd.status();
  r.id = "r-" + crypto::hex(*rnd);
  r.operator_name = c.profile.name;
  r.issued_unix_ms = nowUnixMs();
  std::string bytes = encodeRequest(r);
  auto sig = key->sign(bytes);
  if (!sig.ok()) return sig.status();
  return std::make_pair(std::move(bytes), std::move(*sig));
}

// Signs an operator change as the admin's request and puts it into `req` (an
// AddOperatorRequest or RevokeOperatorRequest); false (after saying why) when it cannot.
template <typename OperatorRpcRequest>
bool attachOperatorChange(const Client& c, const OperatorChange& change, const std::string& reason,
                          OperatorRpcRequest& req) {
  Request r;
  r.kind = change.revoke ? kRevokeOperatorKind : kAddOperatorKind;
  r.reason = reason;
  r.args = operatorChangeArgs(change);
  auto signed_change = signedRequest(c, std::move(r));
  if (!signed_change.ok()) {
    printError(std::string(signed_change.status().message()));
    return false;
  }
  req.set_request(signed_change->first);
  req.set_request_signature(signed_change->second);
  return true;
}

absl::Status signRequest(const Client& c, v1::SubmitRequest& req) {
  Request r;
  r.kind = req.kind();
  r.hosts.assign(req.hosts().begin(), req.hosts().end());
  r.all_hosts = req.all_hosts();
  for (const auto& e : req.allow()) {
    auto prefix = IpPrefix::parse(e.cidr());
    if (!prefix.ok()) return prefix.status();
    r.allow.push_back(AllowEntry{*prefix, static_cast<std::uint16_t>(e.port())}.toString());
  }
  r.addresses.assign(req.addresses().begin(), req.addresses().end());
  r.args.assign(req.args().begin(), req.args().end());
  r.reason = req.reason();
  auto signed_request = signedRequest(c, std::move(r));
  if (!signed_request.ok()) return signed_request.status();
  req.set_request(signed_request->first);
  req.set_request_signature(signed_request->second);
  return absl::OkStatus();
}

int withClient(const Globals& g, const std::function<int(Client&)>& fn) {
  auto c = Client::connect(g);
  if (!c.ok()) {
    printError(std::string(c.status().message()));
    return c.status().code() == absl::StatusCode::kInvalidArgument ||
                   c.status().code() == absl::StatusCode::kNotFound
               ? kExitBadInput
               : kExitFailed;
  }
  // The process ends right after the command; tearing the channel down first (joining gRPC's
  // threads, freeing the TLS context) would only add to every command's latency.
  Client* kept = new Client(std::move(*c));
  return fn(*kept);
}

// ---- token create ---------------------------------------------------------------------------

int tokenCreate(const Globals& g, const std::string& ttl_text, const std::string& host_id) {
  auto ttl = parseDuration(ttl_text);
  if (!ttl.ok()) {
    printError(std::string(ttl.status().message()));
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    v1::CreateTokenRequest req;
    req.set_ttl_seconds(absl::ToInt64Seconds(*ttl));
    req.set_host_id(host_id);
    v1::CreateTokenResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->CreateToken(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
    } else {
      std::printf("%s\n", resp.token().c_str());
      if (isatty(STDERR_FILENO)) {
        std::fprintf(stderr,
                     "One-time join token, expires %s UTC. On the host:\n"
                     "  warden-agent enroll --controller %s --token <token> --state-dir "
                     "/var/lib/warden-agent\n",
                     formatTime(resp.expires_unix_ms()).c_str(), c.profile.controller.c_str());
      }
    }
    return kExitOk;
  });
}

// ---- hosts ------------------------------------------------------------------------------------

int hosts(const Globals& g) {
  return withClient(g, [&](Client& c) {
    v1::ListHostsResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->ListHosts(ctx.get(), v1::ListHostsRequest(), &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return kExitOk;
    }
    if (resp.hosts().empty()) {
      std::printf("No hosts enrolled. Create a join token with 'warden token create'.\n");
      return kExitOk;
    }
    std::printf("%-20s %-13s %-11s %-10s %-9s %s\n", "HOST", "STATUS", "CONTAINMENT", "SEEN",
                "FIREWALL", "ADDRESSES");
    for (const auto& h : resp.hosts()) {
      std::string containment = h.containment();
      if (h.facts().blocked_count() > 0) {
        containment += absl::StrFormat("+%dblk", h.facts().blocked_count());
      }
      std::printf("%-20s %-13s %-11s %-10s %-9s %s\n", h.host_id().c_str(),
                  h.connected() ? "connected" : "disconnected", containment.c_str(),
                  formatAgo(h.last_seen_unix_ms()).c_str(),
                  h.facts().firewall_backend().empty() ? "-" : h.facts().firewall_backend().c_str(),
                  absl::StrJoin(h.facts().addresses(), " ").c_str());
    }
    return kExitOk;
  });
}

// ---- isolate / release ------------------------------------------------------------------------

std::string describeAction(const v1::Action& a) {
  const auto& d = a.details();
  auto get = [&](const char* k) -> std::string {
    auto it = d.find(k);
    return it == d.end() ? "" : it->second;
  };
  std::string extra;
  if (!get("backend").empty()) extra += get("backend");
  if (!get("flows_cut").empty()) extra += ", " + get("flows_cut") + " flows cut";
  if (!get("duration_us").empty()) {
    extra += absl::StrFormat(", %.1f ms on host", std::atof(get("duration_us").c_str()) / 1000.0);
  }
  return extra;
}

int actionExitCode(const v1::SubmitResponse& resp) {
  int rc = kExitOk;
  for (const auto& a : resp.actions()) {
    if (a.state() == "failed" || a.state() == "refused" || a.state() == "expired")
      return kExitFailed;
    if (a.state() == "queued" || a.state() == "delivered") rc = kExitPending;
  }
  return rc;
}

struct SubmitArgs {
  std::vector<std::string> hosts;
  std::vector<std::string> allow;
  std::vector<std::string> addresses;
  bool all_hosts = false;
  std::string reason;
  bool no_wait = false;
  std::string timeout = "30s";
};

int submit(const Globals& g, const std::string& kind, const SubmitArgs& args) {
  const auto& allow = args.allow;
  const bool no_wait = args.no_wait;
  const std::string& timeout_text = args.timeout;
  v1::SubmitRequest req;
  req.set_kind(kind);
  req.set_reason(args.reason);
  req.set_all_hosts(args.all_hosts);
  for (const auto& h : args.hosts) req.add_hosts(h);
  if ((kind == "block" || kind == "unblock") && args.all_hosts == !args.hosts.empty()) {
    printError("name the hosts with --host HOST, or use --all for the whole fleet (not both)");
    return kExitBadInput;
  }
  for (const auto& text : args.addresses) {
    auto p = IpPrefix::parse(text);
    if (!p.ok()) {
      printError(std::string(p.status().message()));
      return kExitBadInput;
    }
    req.add_addresses(p->toString());
  }
  // Reject malformed input before anything reaches the controller.
  for (const auto& text : allow) {
    auto e = AllowEntry::parse(text);
    if (!e.ok()) {
      printError(std::string(e.status().message()));
      return kExitBadInput;
    }
    auto* out = req.add_allow();
    out->set_cidr(e->prefix.toString());
    out->set_port(e->port);
  }
  auto timeout = parseDuration(timeout_text);
  if (!timeout.ok()) {
    printError(std::string(timeout.status().message()));
    return kExitBadInput;
  }
  req.set_wait_ms(no_wait ? 0 : static_cast<std::uint32_t>(absl::ToInt64Milliseconds(*timeout)));
  return withClient(g, [&](Client& c) {
    v1::SubmitResponse resp;
    auto ctx = c.context(*timeout + absl::Seconds(10));
    if (auto signed_ok = signRequest(c, req); !signed_ok.ok()) {
      printError(std::string(signed_ok.message()));
      return kExitBadInput;
    }
    auto s = c.stub->Submit(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    const int rc = actionExitCode(resp);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return rc;
    }
    if (resp.actions().empty()) std::printf("no hosts enrolled: nothing dispatched\n");
    for (const auto& a : resp.actions()) {
      if (a.state() == "succeeded") {
        // isolate/release say it in a word; block/unblock say what changed.
        const std::string what = kind == "isolate"   ? "isolated"
                                 : kind == "release" ? "released"
                                                     : a.message();
        std::printf("%s: %s (%s; action %s)\n", a.host_id().c_str(), what.c_str(),
                    describeAction(a).c_str(), a.id().c_str());
      } else if (a.state() == "queued" || a.state() == "delivered") {
        std::printf("%s: %s, no receipt yet — %s; action %s expires %s UTC ('warden action %s')\n",
                    a.host_id().c_str(), a.state().c_str(),
                    a.state() == "queued" ? "host not connected, delivered when it connects"
                                          : "the host has not answered",
                    a.id().c_str(), formatTime(a.expires_unix_ms()).c_str(), a.id().c_str());
      } else {
        std::printf("%s: %s %s: %s (action %s)\n", a.host_id().c_str(), kind.c_str(),
                    a.state().c_str(), a.message().c_str(), a.id().c_str());
      }
    }
    return rc;
  });
}

// ---- actions / action -----------------------------------------------------------------------

void printActionRow(const v1::Action& a) {
  std::printf("%-20s %-19s %-14s %-8s %-10s %-9s %s\n", a.id().c_str(),
              formatTime(a.created_unix_ms()).c_str(), a.host_id().c_str(), a.kind().c_str(),
              a.state().c_str(), a.requested_by().c_str(), a.message().c_str());
}

int listActions(const Globals& g, const std::string& host) {
  return withClient(g, [&](Client& c) {
    v1::ListActionsRequest req;
    req.set_host_id(host);
    v1::ListActionsResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->ListActions(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return kExitOk;
    }
    std::printf("%-20s %-19s %-14s %-8s %-10s %-9s %s\n", "ACTION", "CREATED (UTC)", "HOST", "KIND",
                "STATE", "BY", "RESULT");
    for (const auto& a : resp.actions()) printActionRow(a);
    return kExitOk;
  });
}

int showAction(const Globals& g, const std::string& id) {
  return withClient(g, [&](Client& c) {
    v1::GetActionRequest req;
    req.set_id(id);
    v1::Action a;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->GetAction(ctx.get(), req, &a);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(a).c_str());
      return kExitOk;
    }
    std::printf(
        "action     %s\nhost       %s\nkind       %s %s\nstate      %s\nrequested  %s UTC by "
        "%s%s\n",
        a.id().c_str(), a.host_id().c_str(), a.kind().c_str(), a.params().c_str(),
        a.state().c_str(), formatTime(a.created_unix_ms()).c_str(), a.requested_by().c_str(),
        a.reason().empty() ? "" : (" — " + a.reason()).c_str());
    std::printf("expires    %s UTC\nfinished   %s UTC\nresult     %s\nreceipt    %s\n",
                formatTime(a.expires_unix_ms()).c_str(), formatTime(a.finished_unix_ms()).c_str(),
                a.message().c_str(),
                a.receipt_verified() ? "signed by the agent, verified" : "none");
    if (a.log_index() >= 0) {
      std::printf("logged     dispatch is action log entry %lld ('warden audit prove %lld')\n",
                  static_cast<long long>(a.log_index()), static_cast<long long>(a.log_index()));
    }
    std::vector<std::string> keys;
    for (const auto& [k, v] : a.details()) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    for (const auto& k : keys) {
      const std::string& v = a.details().at(k);
      if (v.find('\n') != std::string::npos) {
        std::printf("  %s:\n    %s\n", k.c_str(),
                    absl::StrJoin(absl::StrSplit(v, '\n'), "\n    ").c_str());
      } else {
        std::printf("  %-22s %s\n", k.c_str(), v.c_str());
      }
    }
    return a.state() == "failed" || a.state() == "refused" ? kExitFailed : kExitOk;
  });
}

// ---- host actions: sessions, kill-sessions, lock/unlock-accounts, shutdown -----------------

std::string shortHash(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) : h; }

template <typename Message>
bool decodeResult(const v1::Action& a, Message* out) {
  auto it = a.details().find("result");
  if (it == a.details().end()) return false;
  auto raw = crypto::unbase64(it->second);
  return raw.ok() && out->ParseFromString(*raw);
}

void printSessions(const v1::SessionList& list) {
  if (list.sessions().empty()) {
    std::printf("No login sessions.\n");
    return;
  }
  std::printf("%-14s %-12s %-8s %-24s %-19s %-8s %-6s %s\n", "SESSION", "USER", "TTY", "FROM",
              "LOGIN (UTC)", "LEADER", "PROCS", "ROOT");
  for (const auto& s : list.sessions()) {
    std::printf("%-14s %-12s %-8s %-24s %-19s %-8d %-6u %s\n", s.id().c_str(), s.user().c_str(),
                s.tty().empty() ? "-" : s.tty().c_str(),
                s.remote().empty() ? "-" : s.remote().c_str(),
                formatTime(s.login_unix_ms()).c_str(), s.leader_pid(), s.process_count(),
                s.any_root() ? "yes" : "no");
  }
}

void printKillReport(const v1::KillReport& r) {
  std::printf("%s %d process%s (%u round%s, %.1f ms, %s)\n", r.dry_run() ? "Would kill" : "Killed",
              r.processes_size(), r.processes_size() == 1 ? "" : "es", r.rounds(),
              r.rounds() == 1 ? "" : "s", r.elapsed_us() / 1000.0,
              r.dry_run() ? "nothing changed" : r.freeze_method().c_str());
  if (!r.processes().empty()) {
    std::printf("%-8s %-8s %-12s %-5s %-10s %-17s %s\n", "PID", "PPID", "USER", "EUID", "SESSION",
                "EXE SHA-256", "COMMAND");
    for (const auto& p : r.processes()) {
      std::printf("%-8d %-8d %-12s %-5u %-10lld %-17s %s\n", p.pid(), p.ppid(), p.user().c_str(),
                  p.euid(), static_cast<long long>(p.audit_session()),
                  shortHash(p.exe_sha256()).c_str(),
                  (p.cmdline().empty() ? p.exe() : p.cmdline()).c_str());
    }
  }
  for (const auto& p : r.survivors()) {
    std::printf("SURVIVED: pid %d (%s)\n", p.pid(), p.cmdline().c_str());
  }
}

void printAccountReport(const v1::AccountReport& r) {
  for (const auto& c : r.changes()) {
    std::printf("  %-16s %-10s shadow line %s -> %s\n", c.user().c_str(), c.action().c_str(),
                shortHash(c.old_line_sha256()).c_str(), shortHash(c.new_line_sha256()).c_str());
  }
}

// Submits one host action and waits for its receipt. `render` prints the human result.
absl::StatusOr<v1::Action> waitShowingProgress(Client& c, const std::string& id,
                                               absl::Duration timeout, bool draw);

int hostAction(const Globals& g, const std::string& kind, const std::string& host,
               const std::vector<std::string>& args, const std::string& timeout_text,
               const std::function<void(const v1::Action&)>& render,
               const std::function<std::string(const v1::Action&)>& json_extra = nullptr) {
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
    auto ctx = c.context(*timeout + absl::Seconds(10));
    if (auto signed_ok = signRequest(c, req); !signed_ok.ok()) {
      printError(std::string(signed_ok.message()));
      return kExitBadInput;
    }
    auto s = c.stub->Submit(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
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
      std::string extra = json_extra ? json_extra(a) : "";
      std::printf("{\n\"action\": %s%s\n}\n", toJson(a).c_str(), extra.c_str());
      return rc;
    }
    if (a.state() == "queued" || a.state() == "delivered") {
      std::printf("%s: %s %s, no receipt yet (action %s; 'warden action %s')\n", host.c_str(),
                  kind.c_str(), a.state().c_str(), a.id().c_str(), a.id().c_str());
    } else if (a.state() != "succeeded") {
      std::fprintf(stderr, "warden: %s on %s %s: %s (action %s)\n", kind.c_str(), host.c_str(),
                   a.state().c_str(), a.message().c_str(), a.id().c_str());
    } else {
      std::printf("%s: %s (action %s)\n", host.c_str(), a.message().c_str(), a.id().c_str());
      render(a);
    }
    return rc;
  });
}

std::string resultJson(const google::protobuf::Message& m) { return ",\n\"result\": " + toJson(m); }

int sessionsCmd(const Globals& g, const std::string& host) {
  return hostAction(
      g, "sessions", host, {}, "30s",
      [](const v1::Action& a) {
        v1::SessionList list;
        if (decodeResult(a, &list)) printSessions(list);
      },
      [](const v1::Action& a) {
        v1::SessionList list;
        return decodeResult(a, &list) ? resultJson(list) : std::string();
      });
}

int killSessionsCmd(const Globals& g, const std::string& host, std::vector<std::string> args,
                    bool dry_run) {
  for (const auto& a : args) {
    if (a.rfind("from=", 0) == 0) {
      if (auto p = IpPrefix::parse(a.substr(5)); !p.ok()) {
        printError(std::string(p.status().message()));
        return kExitBadInput;
      }
    }
  }
  if (dry_run) args.push_back("dry_run=1");
  return hostAction(
      g, "kill-sessions", host, args, "60s",
      [](const v1::Action& a) {
        v1::KillReport r;
        if (decodeResult(a, &r)) printKillReport(r);
      },
      [](const v1::Action& a) {
        v1::KillReport r;
        return decodeResult(a, &r) ? resultJson(r) : std::string();
      });
}

int lockAccountsCmd(const Globals& g, const std::string& host, std::vector<std::string> args,
                    bool rotate_root) {
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
    args.push_back("rotate_root=1");
    args.push_back("recipient=" + crypto::base64(key.public_key));
  }
  auto password = [key](const v1::Action& a) -> std::string {
    v1::AccountReport r;
    if (!decodeResult(a, &r) || r.sealed_root_password().empty()) return "";
    auto clear = crypto::openSealed(key.private_key, r.sealed_root_password());
    return clear.ok() ? *clear : "";
  };
  return hostAction(
      g, "lock-accounts", host, args, "60s",
      [&](const v1::Action& a) {
        v1::AccountReport r;
        if (decodeResult(a, &r)) printAccountReport(r);
        if (rotate_root) {
          const std::string pw = password(a);
          if (pw.empty()) {
            std::printf("New root password: could not be opened (sealed to another key?)\n");
          } else {
            std::printf("New root password (shown once, stored nowhere): %s\n", pw.c_str());
          }
        }
      },
      [&](const v1::Action& a) {
        v1::AccountReport r;
        std::string out = decodeResult(a, &r) ? resultJson(r) : std::string();
        if (rotate_root) {
          out += absl::StrFormat(",\n\"root_password\": \"%s\"", password(a));
        }
        return out;
      });
}

int unlockAccountsCmd(const Globals& g, const std::string& host,
                      const std::vector<std::string>& args) {
  return hostAction(
      g, "unlock-accounts", host, args, "60s",
      [](const v1::Action& a) {
        v1::AccountReport r;
        if (decodeResult(a, &r)) printAccountReport(r);
      },
      [](const v1::Action& a) {
        v1::AccountReport r;
        return decodeResult(a, &r) ? resultJson(r) : std::string();
      });
}

int operatorAdd(const Globals& g, const std::string& name, const std::string& role,
                const std::string& out_path) {
  if (pathExists(out_path)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", out_path));
    return kExitBadInput;
  }
  auto tls_key = crypto::generateEcKeyPem();
  auto signing = crypto::Ed25519Key::generate();
  if (!tls_key.ok() || !signing.ok()) {
    printError("cannot generate keys");
    return kExitFailed;
  }
  auto csr = crypto::createCsr(*tls_key, "operator:" + name);
  if (!csr.ok()) {
    printError(std::string(csr.status().message()));
    return kExitFailed;
  }
  return withClient(g, [&](Client& c) {
    v1::AddOperatorRequest req;
    req.set_name(name);
    req.set_role(role);
    req.set_csr_pem(*csr);
    req.set_signing_public_key(signing->publicKey());
    if (!attachOperatorChange(c, OperatorChange{false, name, role, signing->publicKey()}, "",
                              req)) {
      return kExitBadInput;
    }
    v1::AddOperatorResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->AddOperator(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    OperatorProfile p;
    p.controller = c.profile.controller;
    p.name = name;
    p.role = role;
    p.ca_pem = resp.ca_pem();
    p.cert_pem = resp.certificate_pem();
    p.key_pem = *tls_key;
    p.signing_key_pem = signing->toPem();
    if (auto w = saveProfile(out_path, p); !w.ok()) {
      printError(std::string(w.message()));
      return kExitFailed;
    }
    std::printf("operator %s (%s): profile written to %s (mode 0600; hand it over securely)\n",
                name.c_str(), role.c_str(), out_path.c_str());
    return kExitOk;
  });
}

int operatorRevoke(const Globals& g, const std::string& name, const std::string& reason) {
  return withClient(g, [&](Client& c) {
    v1::RevokeOperatorRequest req;
    req.set_name(name);
    req.set_reason(reason);
    if (!attachOperatorChange(c, OperatorChange{true, name, "", ""}, reason, req)) {
      return kExitBadInput;
    }
    v1::RevokeOperatorResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->RevokeOperator(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("{\"revoked\": %s}\n", jsonString(name).c_str());
    } else {
      std::printf("operator %s revoked: their certificate and signing key no longer work\n",
                  name.c_str());
    }
    return kExitOk;
  });
}

int listBlocks(const Globals& g) {
  return withClient(g, [&](Client& c) {
    v1::ListBlocksResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->ListBlocks(ctx.get(), v1::ListBlocksRequest(), &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return kExitOk;
    }
    if (resp.blocks().empty()) {
      std::printf("No fleet-wide blocks.\n");
      return kExitOk;
    }
    std::printf("%-40s %-19s %-10s %s\n", "ADDRESS", "SINCE (UTC)", "BY", "REASON");
    for (const auto& b : resp.blocks()) {
      std::printf("%-40s %-19s %-10s %s\n", b.address().c_str(),
                  formatTime(b.created_unix_ms()).c_str(), b.created_by().c_str(),
                  b.reason().c_str());
    }
    return kExitOk;
  });
}

// ---- audit ----------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at the start of `v`, or 0 (RFC 3629 §4).
// Text from the log (agents and operators wrote it) made safe for a terminal: control
// characters and invalid UTF-8 become '?', so no escape sequence reaches the auditor's screen.
std::string printable(std::string_view v) {
  std::string out;
  while (!v.empty()) {
    const std::size_t n = utf8Length(v);
    const unsigned char c = static_cast<unsigned char>(v[0]);
    const unsigned char c1 = n > 1 ? static_cast<unsigned char>(v[1]) : 0;
    const unsigned char c2 = n > 2 ? static_cast<unsigned char>(v[2]) : 0;
    // C1 controls (U+0080-U+009F, e.g. CSI) and bidi overrides (U+202A-U+202E,
    // U+2066-U+2069) can rewrite what a terminal shows as well as C0 controls can.
    const bool c1_control = n == 2 && c == 0xC2 && c1 <= 0x9F;
    const bool bidi =
        n == 3 && c == 0xE2 &&
        ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) || (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9));
    if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7f)) || c1_control || bidi) {
      out += '?';
      v.remove_prefix(1);
    } else {
      out.append(v.substr(0, n));
      v.remove_prefix(n);
    }
  }
  return out;
}

// Every entry of the log from `start`, page by page.
absl::StatusOr<std::vector<std::string>> readLog(Client& c, std::uint64_t start,
                                                 std::uint64_t end) {
  std::vector<std::string> out;
  while (start + out.size() < end) {
    v1::ReadLogRequest req;
    req.set_start(start + out.size());
    v1::ReadLogResponse resp;
    auto ctx = c.context(absl::Seconds(60));
    auto s = c.stub->ReadLog(ctx.get(), req, &resp);
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    if (resp.entries().empty()) break;
    for (auto& e : *resp.mutable_entries()) {
      if (start + out.size() >= end) break;
      out.push_back(std::move(e));
    }
  }
  return out;
}

// One log entry as a timeline row: what happened, in a line.
std::string summarize(const LogEntry& e) {
  if (e.type == entry_type::kRequest) {
    auto r = decodeRequest(e.body);
    if (!r.ok()) return "undecodable request";
    std::string what = r->kind;
    if (r->all_hosts) what += " --all";
    if (!r->hosts.empty()) what += " " + absl::StrJoin(r->hosts, ",");
    if (!r->addresses.empty()) what += " " + absl::StrJoin(r->addresses, ",");
    if (!r->args.empty()) what += " " + absl::StrJoin(r->args, " ");
    if (!r->allow.empty()) what += " allow " + absl::StrJoin(r->allow, ",");
    if (!r->reason.empty()) what += " reason: " + r->reason;
    return absl::StrFormat("requested %s (%s)", what, r->id);
  }
  if (e.type == entry_type::kDispatch) {
    auto c = decodeCommand(e.body);
    if (!c.ok()) return "undecodable command";
    return absl::StrFormat("dispatched %s %s to %s%s", c->kind, c->id, c->host_id,
                           e.ref.empty() ? " (controller's own)" : " for " + e.ref);
  }
  if (e.type == entry_type::kReceipt) {
    auto r = decodeReceipt(e.body);
    if (!r.ok()) return "undecodable receipt";
    return absl::StrFormat("%s %s %s: %s", receiptStatusName(r->status), r->kind, r->command_id,
                           r->message);
  }
  if (e.type == entry_type::kOperator && !e.signature.empty()) {
    // An admin's signed operator change.
    auto r = decodeRequest(e.body);
    auto change = r.ok() ? operatorChangeOf(*r) : absl::StatusOr<OperatorChange>(r.status());
    if (!change.ok()) return "undecodable operator change";
    const std::string detail = e.detail.empty() ? "" : ": " + e.detail;
    if (change->revoke) return absl::StrFormat("operator key %s revoked%s", change->name, detail);
    return absl::StrFormat("operator key %s (%s) %s%s", change->name, change->role,
                           shortHash(crypto::hex(crypto::sha256(change->signing_key))), detail);
  }
  if (e.type == entry_type::kKey || e.type == entry_type::kOperator ||
      e.type == entry_type::kEnrollment) {
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return "undecodable key record";
    const std::string detail = e.detail.empty() ? "" : ": " + e.detail;
    if (k->purpose == "operator") {
      return absl::StrFormat("operator key %s (%s) %s%s", k->subject, k->role,
                             shortHash(crypto::hex(crypto::sha256(k->public_key))), detail);
    }
    if (k->purpose == "agent") {
      return absl::StrFormat("agent key of %s %s%s", k->subject,
                             shortHash(crypto::hex(crypto::sha256(k->public_key))), detail);
    }
    return absl::StrFormat("%s key %s", k->purpose,
                           shortHash(crypto::hex(crypto::sha256(k->public_key)))) +
           detail;
  }
  return e.detail;
}

// Whether an entry concerns `host`: it names the host, or it is a request for it.
bool mentions(const LogEntry& e, const std::string& host) {
  if (e.host_id == host) return true;
  if (e.type != entry_type::kRequest) return false;
  auto r = decodeRequest(e.body);
  return r.ok() &&
         (r->all_hosts || std::find(r->hosts.begin(), r->hosts.end(), host) != r->hosts.end());
}

int auditShow(const Globals& g, const std::string& host, std::uint64_t last) {
  return withClient(g, [&](Client& c) {
    v1::ReadLogRequest probe;
    probe.set_limit(1);
    v1::ReadLogResponse size_resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->ReadLog(ctx.get(), probe, &size_resp);
    if (!s.ok()) return reportRpcError(s);
    const std::uint64_t size = size_resp.tree_size();
    // With --host, read everything and keep the host's rows; otherwise only the last rows.
    const std::uint64_t start = host.empty() && last > 0 && last < size ? size - last : 0;
    auto entries = readLog(c, start, size);
    if (!entries.ok()) {
      printError(std::string(entries.status().message()));
      return kExitFailed;
    }
    struct Row {
      std::uint64_t index;
      LogEntry e;
    };
    std::vector<Row> rows;
    for (std::size_t i = 0; i < entries->size(); ++i) {
      auto e = decodeLogEntry((*entries)[i]);
      if (!e.ok()) {
        printError(
            absl::StrFormat("entry %d does not decode: %s", start + i, e.status().message()));
        return kExitFailed;
      }
      if (!host.empty() && !mentions(*e, host)) continue;
      rows.push_back(Row{start + i, std::move(*e)});
    }
    if (!host.empty() && last > 0 && rows.size() > last) {
      rows.erase(rows.begin(), rows.end() - static_cast<std::ptrdiff_t>(last));
    }
    if (g.json) {
      std::printf("{\"tree_size\": %llu, \"entries\": [", static_cast<unsigned long long>(size));
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& [index, e] = rows[i];
        std::printf(
            "%s\n  {\"index\": %llu, \"type\": %s, \"logged_unix_ms\": %lld, \"actor\": %s, "
            "\"host_id\": %s, \"ref\": %s, \"summary\": %s, \"signed\": %s}",
            i == 0 ? "" : ",", static_cast<unsigned long long>(index), jsonString(e.type).c_str(),
            static_cast<long long>(e.logged_unix_ms), jsonString(e.actor).c_str(),
            jsonString(e.host_id).c_str(), jsonString(e.ref).c_str(),
            jsonString(summarize(e)).c_str(), e.signature.empty() ? "false" : "true");
      }
      std::printf("\n]}\n");
      return kExitOk;
    }
    std::printf("%-6s %-23s %-10s %-18s %-12s %s\n", "INDEX", "TIME (UTC)", "TYPE", "WHO", "HOST",
                "WHAT");
    for (const auto& [index, e] : rows) {
      const std::string when = absl::FormatTime(
          "%Y-%m-%d %H:%M:%E3S", absl::FromUnixMillis(e.logged_unix_ms), absl::UTCTimeZone());
      std::printf("%-6llu %-23s %-10s %-18s %-12s %s\n", static_cast<unsigned long long>(index),
                  when.c_str(), printable(e.type).c_str(), printable(e.actor).c_str(),
                  e.host_id.empty() ? "-" : printable(e.host_id).c_str(),
                  printable(summarize(e)).c_str());
    }
    std::printf("%zu of %llu entries shown; 'warden audit export --out FILE' to verify them\n",
                rows.size(), static_cast<unsigned long long>(size));
    return kExitOk;
  });
}

int auditCheckpoint(const Globals& g) {
  return withClient(g, [&](Client& c) {
    v1::GetCheckpointResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->GetCheckpoint(ctx.get(), v1::GetCheckpointRequest(), &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      auto cp = note::parseSignedCheckpoint(resp.checkpoint());
      if (!cp.ok()) {
        printError(std::string(cp.status().message()));
        return kExitFailed;
      }
      std::printf(
          "{\"origin\": %s, \"tree_size\": %llu, \"root_hash\": %s, \"vkey\": %s, "
          "\"checkpoint\": %s}\n",
          jsonString(cp->origin).c_str(), static_cast<unsigned long long>(cp->size),
          jsonString(crypto::base64(cp->root_hash)).c_str(), jsonString(resp.vkey()).c_str(),
          jsonString(resp.checkpoint()).c_str());
      return kExitOk;
    }
    // The signed note alone, so it can be saved and handed to 'audit verify --checkpoint'.
    std::fputs(resp.checkpoint().c_str(), stdout);
    return kExitOk;
  });
}

int auditProve(const Globals& g, std::uint64_t index) {
  return withClient(g, [&](Client& c) {
    v1::ProveEntryRequest req;
    req.set_index(index);
    v1::ProveEntryResponse resp;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->ProveEntry(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    // Check the proof leads to the checkpoint's root before handing it on.
    auto cp = note::parseSignedCheckpoint(resp.checkpoint());
    const std::string leaf = merkle::leafHash(resp.entry());
    std::vector<std::string> proof(resp.proof().begin(), resp.proof().end());
    if (!cp.ok() || cp->size != resp.tree_size() ||
        !merkle::verifyInclusion(index, cp->size, leaf, proof, cp->root_hash).ok()) {
      printError("the controller's inclusion proof does not lead to its checkpoint's root");
      return kExitFailed;
    }
    if (g.json) {
      std::string hashes;
      for (const auto& h : proof) {
        hashes += (hashes.empty() ? "" : ", ") + jsonString(crypto::base64(h));
      }
      std::printf(
          "{\n\"index\": %llu,\n\"tree_size\": %llu,\n\"entry\": %s,\n"
          "\"leaf_hash\": %s,\n\"proof\": [%s],\n\"checkpoint\": %s\n}\n",
          static_cast<unsigned long long>(index), static_cast<unsigned long long>(resp.tree_size()),
          jsonString(crypto::base64(resp.entry())).c_str(),
          jsonString(crypto::base64(leaf)).c_str(), hashes.c_str(),
          jsonString(resp.checkpoint()).c_str());
      return kExitOk;
    }
    auto e = decodeLogEntry(resp.entry());
    std::printf("entry %llu of %llu: %s\nleaf hash %s\nproof: %zu hashes, verified against:\n%s",
                static_cast<unsigned long long>(index),
                static_cast<unsigned long long>(resp.tree_size()),
                e.ok() ? printable(summarize(*e)).c_str() : "undecodable",
                crypto::hex(leaf).c_str(), proof.size(), resp.checkpoint().c_str());
    return kExitOk;
  });
}

int auditExport(const Globals& g, const std::string& out_path) {
  if (pathExists(out_path)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", out_path));
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    v1::GetCheckpointRequest req;
    req.set_all(true);
    v1::GetCheckpointResponse cps;
    auto ctx = c.context(absl::Seconds(30));
    auto s = c.stub->GetCheckpoint(ctx.get(), req, &cps);
    if (!s.ok()) return reportRpcError(s);
    // The newest checkpoint covered every entry when it was fetched; export exactly those.
    auto size = checkpointSize(cps.checkpoint());
    if (!size.ok()) {
      printError(absl::StrFormat("the controller's checkpoint: %s", size.status().message()));
      return kExitFailed;
    }
    std::vector<std::string> checkpoints;
    for (const auto& cp : cps.checkpoints()) {
      if (auto n = checkpointSize(cp); n.ok() && *n <= *size) checkpoints.push_back(cp);
    }
    checkpoints.push_back(cps.checkpoint());
    // Entries are fetched a page at a time as the writer asks for them, in order.
    std::vector<std::string> page;
    std::uint64_t page_start = 0;
    absl::Status fetch_error;
    auto source = [&](std::uint64_t index) -> absl::StatusOr<std::string> {
      if (index < page_start || index >= page_start + page.size()) {
        auto fetched = readLog(c, index, std::min<std::uint64_t>(*size, index + 100000));
        if (!fetched.ok()) return fetched.status();
        page = std::move(*fetched);
        page_start = index;
        if (page.empty()) return absl::DataLossError("the controller returned no entries");
      }
      return page[index - page_start];
    };
    auto written =
        writeAuditExport(out_path, cps.origin(), cps.vkey(), *size, source, std::move(checkpoints));
    if (!written.ok()) {
      printError(absl::StrFormat("export failed: %s", written.message()));
      return kExitFailed;
    }
    if (g.json) {
      std::printf("{\"file\": %s, \"entries\": %llu, \"origin\": %s, \"vkey\": %s}\n",
                  jsonString(out_path).c_str(), static_cast<unsigned long long>(*size),
                  jsonString(cps.origin()).c_str(), jsonString(cps.vkey()).c_str());
      return kExitOk;
    }
    std::printf(
        "exported %llu entries of log %s to %s\ncheck it offline with: warden audit verify "
        "%s --vkey log.vkey\n",
        static_cast<unsigned long long>(*size), cps.origin().c_str(), out_path.c_str(),
        out_path.c_str());
    return kExitOk;
  });
}

int auditVerify(const Globals& g, const std::string& file, const std::string& vkey_path,
                const std::vector<std::string>& checkpoint_paths,
                const std::vector<std::string>& evidence_paths) {
  AuditVerifyOptions options;
  // Evidence is vouched for by the log only if the log's key is the auditor's own copy: a log
  // checked against the key written in it could have been made to match forged evidence.
  if (!evidence_paths.empty() && vkey_path.empty()) {
    printError("--evidence needs --vkey: the controller's log.vkey, as you hold it");
    return kExitBadInput;
  }
  // Evidence items: found before the (long) log check, so a wrong name fails at once.
  std::vector<EvidenceFiles> evidence;
  std::set<std::string> actions;
  for (const auto& p : evidence_paths) {
    auto f = locateEvidenceFiles(p);
    if (!f.ok()) {
      printError(std::string(f.status().message()));
      return kExitBadInput;
    }
    actions.insert(evidenceActionId(evidenceIdOfFile(f->content_path)));
    evidence.push_back(*f);
  }
  EvidenceLogIndex index(std::move(actions));
  if (!evidence.empty()) {
    options.on_entry = [&index](std::uint64_t i, const LogEntry& e) { index.observe(i, e); };
  }
  if (!vkey_path.empty()) {
    auto vkey = readFile(vkey_path);
    if (!vkey.ok()) {
      printError(std::string(vkey.status().message()));
      return kExitBadInput;
    }
    options.pinned_vkey = std::string(absl::StripTrailingAsciiWhitespace(*vkey));
  }
  for (const auto& p : checkpoint_paths) {
    auto cp = readFile(p);
    if (!cp.ok()) {
      printError(std::string(cp.status().message()));
      return kExitBadInput;
    }
    options.previous_checkpoints.push_back(*cp);
  }
  auto report = verifyAuditExport(file, options);
  if (!report.ok()) {
    printError(std::string(report.status().message()));
    return kExitBadInput;
  }
  const AuditReport& r = *report;
  // The evidence, checked against what the log (if it verified) says.
  std::vector<EvidenceVerdict> verdicts;
  bool evidence_ok = true;
  if (r.ok) {
    for (const auto& f : evidence) {
      auto v = verifyEvidenceFiles(f, index);
      if (!v.ok()) {
        printError(std::string(v.status().message()));
        return kExitBadInput;
      }
      evidence_ok = evidence_ok && v->ok;
      verdicts.push_back(std::move(*v));
    }
  }
  if (g.json) {
    std::string items;
    for (const auto& v : verdicts) {
      std::string checks;
      for (const auto& c : v.checks) {
        absl::StrAppendFormat(&checks, "%s{\"name\": %s, \"ok\": %s, \"detail\": %s}",
                              checks.empty() ? "" : ", ", jsonString(c.name),
                              c.ok ? "true" : "false", jsonString(c.detail));
      }
      absl::StrAppendFormat(
          &items,
          "%s{\"id\": %s, \"ok\": %s, \"content\": %s, \"manifest\": %s, \"size\": %d, "
          "\"sha256\": %s, \"receipt_index\": %d, \"checks\": [%s]}",
          items.empty() ? "" : ", ", jsonString(v.evidence_id), v.ok ? "true" : "false",
          jsonString(v.files.content_path), jsonString(v.files.manifest_path), v.size,
          jsonString(v.sha256), v.receipt_index, checks);
    }
    std::string types;
    for (const auto& [t, n] : r.entries_by_type) {
      types += absl::StrFormat("%s%s: %d", types.empty() ? "" : ", ", jsonString(t), n);
    }
    std::printf(
        "{\"ok\": %s, \"bad_index\": %lld, \"error\": %s, \"origin\": %s, "
        "\"vkey\": %s, \"vkey_pinned\": %s, \"tree_size\": %llu, \"root_hash\": %s, "
        "\"entries_by_type\": {%s}, \"checkpoints\": %llu, "
        "\"signatures_verified\": %llu, \"previous_checkpoints_checked\": %llu, "
        "\"evidence\": [%s]}\n",
        r.ok && evidence_ok ? "true" : "false", static_cast<long long>(r.bad_index),
        jsonString(r.error).c_str(), jsonString(r.origin).c_str(), jsonString(r.vkey).c_str(),
        r.vkey_pinned ? "true" : "false", static_cast<unsigned long long>(r.tree_size),
        jsonString(r.root_hex).c_str(), types.c_str(),
        static_cast<unsigned long long>(r.checkpoints),
        static_cast<unsigned long long>(r.signatures_verified),
        static_cast<unsigned long long>(r.previous_checkpoints_checked), items.c_str());
    return r.ok && evidence_ok ? kExitOk : kExitFailed;
  }
  if (!r.ok) {
    std::fprintf(stderr, "warden: audit verify FAILED: %s\n", r.error.c_str());
    return kExitFailed;
  }
  std::string types;
  for (const auto& [t, n] : r.entries_by_type) {
    types += absl::StrFormat("%s%d %s", types.empty() ? "" : ", ", n, t);
  }
  std::printf("verified: %llu entries (%s), %llu checkpoints, %llu signatures; root %s\n",
              static_cast<unsigned long long>(r.tree_size), types.c_str(),
              static_cast<unsigned long long>(r.checkpoints),
              static_cast<unsigned long long>(r.signatures_verified), r.root_hex.c_str());
  if (r.previous_checkpoints_checked > 0) {
    std::printf("extends the %llu checkpoint(s) you saved: no rollback, truncation or fork\n",
                static_cast<unsigned long long>(r.previous_checkpoints_checked));
  }
  if (!r.vkey_pinned) {
    std::printf(
        "warning: checked against the log key written in the file itself; pass --vkey "
        "with the controller's log.vkey to pin it\n");
  }
  // Manifest text is read before its signature is checked: printed through printable().
  for (const auto& v : verdicts) {
    std::printf("evidence %s: %s\n", printable(v.evidence_id).c_str(),
                v.ok ? "verified" : "FAILED");
    for (const auto& c : v.checks) {
      std::printf("  %-9s %s  %s\n", c.name.c_str(), c.ok ? "ok  " : "FAIL",
                  printable(c.detail).c_str());
    }
  }
  if (!evidence_ok) {
    std::fprintf(stderr, "warden: audit verify FAILED: evidence does not match the log\n");
    return kExitFailed;
  }
  return kExitOk;
}

// ---- evidence: image progress, list, show, get, verify ----------------------------------------

std::string formatBytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%d B", n) : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string formatEta(double seconds) {
  if (!(seconds >= 0) || seconds > 100 * 3600) return "--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  return s >= 3600 ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                   : absl::StrFormat("%d:%02d", s / 60, s % 60);
}

// A progress line on stderr (a terminal): bytes, rate and time left of the item in transfer.
class ProgressLine {
 public:
  void update(const v1::EvidenceItem& item) {
    const absl::Time now = absl::Now();
    if (item.id() != id_) {
      finishLine();
      id_ = item.id();
      last_bytes_ = item.size();
      last_at_ = now;
      rate_ = 0;
    } else if (now - last_at_ >= absl::Milliseconds(400)) {
      const double dt = absl::ToDoubleSeconds(now - last_at_);
      const double r = static_cast<double>(item.size() - std::min(item.size(), last_bytes_)) / dt;
      rate_ = rate_ == 0 ? r : 0.7 * rate_ + 0.3 * r;  // smoothed over the last few seconds
      last_bytes_ = item.size();
      last_at_ = now;
    }
    const std::uint64_t total = item.total();
    std::string bar;
    std::string pct = "   ";
    if (total > 0) {
      const double f = std::min(1.0, static_cast<double>(item.size()) / static_cast<double>(total));
      const int filled = static_cast<int>(f * 24);
      bar = "[" + std::string(filled, '#') + std::string(24 - filled, '.') + "] ";
      pct = absl::StrFormat("%3d%%", static_cast<int>(f * 100));
    }
    const double eta =
        rate_ > 0 && total > item.size() ? static_cast<double>(total - item.size()) / rate_ : -1;
    std::fprintf(stderr, "\r\033[K%s %s %s%s / %s  %.1f MB/s  ETA %s", item.id().c_str(),
                 pct.c_str(), bar.c_str(), formatBytes(item.size()).c_str(),
                 total > 0 ? formatBytes(total).c_str() : "?", rate_ / 1e6, formatEta(eta).c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void finishLine() {
    if (shown_) std::fprintf(stderr, "\n");
    shown_ = false;
  }
  ~ProgressLine() { finishLine(); }

 private:
  std::string id_;
  std::uint64_t last_bytes_ = 0;
  absl::Time last_at_;
  double rate_ = 0;
  bool shown_ = false;
};

// Polls action `id` until it has its receipt (or `timeout`), drawing its evidence transfers
// when `draw`.
absl::StatusOr<v1::Action> waitShowingProgress(Client& c, const std::string& id,
                                               absl::Duration timeout, bool draw) {
  const absl::Time end = absl::Now() + timeout;
  absl::Time last_ok = absl::Now();
  ProgressLine line;
  for (;;) {
    v1::GetActionRequest get;
    get.set_id(id);
    v1::Action a;
    auto ctx = c.context(absl::Seconds(15));
    auto s = c.stub->GetAction(ctx.get(), get, &a);
    if (!s.ok()) {
      // A controller restarting mid-transfer comes back; the transfer resumes meanwhile.
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE ||
          absl::Now() - last_ok > absl::Minutes(2) || absl::Now() >= end) {
        return absl::UnavailableError(s.error_message());
      }
      absl::SleepFor(absl::Seconds(1));
      continue;
    }
    last_ok = absl::Now();
    const bool done = a.state() != "queued" && a.state() != "delivered";
    if (done || absl::Now() >= end) return a;
    if (!draw) {
      absl::SleepFor(absl::Milliseconds(250));
      continue;
    }
    v1::ListEvidenceRequest list;
    list.set_action_id(id);
    v1::ListEvidenceResponse items;
    auto lctx = c.context(absl::Seconds(15));
    if (c.stub->ListEvidence(lctx.get(), list, &items).ok()) {
      for (const auto& item : items.items()) {
        if (item.state() == "receiving") line.update(item);
      }
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
}

struct ImageArgs {
  std::vector<std::string> devices;
  bool all_disks = false;
  std::string compress;
  double rate_mb = 0;
  std::string timeout = "24h";
};

// Receipt details of an image or collect action, one block per evidence item.
void printEvidenceDetails(const v1::Action& a) {
  auto ids = a.details().find("evidence_ids");
  if (ids == a.details().end()) return;
  for (absl::string_view id : absl::StrSplit(ids->second, ',', absl::SkipEmpty())) {
    std::printf("  evidence %s\n", std::string(id).c_str());
    for (const char* k : {"device", "device_kind", "size_bytes", "sha256", "controller_sha256",
                          "manifest_sha256", "immutable", "read_method", "read_errors",
                          "resumed_from", "members", "limits_hit", "error"}) {
      auto it = a.details().find(absl::StrCat(id, ".", k));
      if (it != a.details().end()) std::printf("    %-18s %s\n", k, printable(it->second).c_str());
    }
  }
}

int imageCmd(const Globals& g, const std::string& host, const ImageArgs& ia) {
  std::vector<std::string> args;
  for (const auto& d : ia.devices) {
    if (d.empty() || d[0] != '/') {
      printError(absl::StrFormat("'%s' is not an absolute path on the host", d));
      return kExitBadInput;
    }
    args.push_back("device=" + d);
  }
  if (args.empty() && !ia.all_disks) {
    printError("name a DEVICE, or use --all-disks");
    return kExitBadInput;
  }
  if (ia.all_disks) args.push_back("all_disks=yes");
  if (!ia.compress.empty()) {
    if (ia.compress != "zstd" && ia.compress != "none") {
      printError(absl::StrFormat("unknown compression '%s' (zstd or none)", ia.compress));
      return kExitBadInput;
    }
    args.push_back("compress=" + ia.compress);
  }
  if (ia.rate_mb < 0) {
    printError("--rate must be positive");
    return kExitBadInput;
  }
  if (ia.rate_mb > 0) args.push_back(absl::StrFormat("rate=%g", ia.rate_mb));
  return hostAction(g, "image", host, args, ia.timeout, printEvidenceDetails);
}

void printEvidenceRow(const v1::EvidenceItem& e) {
  const std::string size =
      e.state() == "receiving" && e.total() > 0
          ? absl::StrFormat("%s/%s", formatBytes(e.size()), formatBytes(e.total()))
          : formatBytes(e.size());
  // Long paths keep their end, where the file name is.
  std::string source = printable(e.source());
  if (source.size() > 28) source = "..." + source.substr(source.size() - 25);
  std::printf("%-24s %-10s %-12s %-7s %-28s %-18s %-16s %s\n", e.id().c_str(), e.state().c_str(),
              printable(e.host_id()).c_str(), e.kind().c_str(), source.c_str(), size.c_str(),
              e.sha256().empty() ? "-" : (e.sha256().substr(0, 12) + "...").c_str(),
              formatTime(e.finished_unix_ms()).c_str());
}

int evidenceList(const Globals& g, const std::string& host) {
  return withClient(g, [&](Client& c) {
    v1::ListEvidenceRequest req;
    req.set_host_id(host);
    v1::ListEvidenceResponse resp;
    auto ctx = c.context(absl::Seconds(30));
    auto s = c.stub->ListEvidence(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return kExitOk;
    }
    std::printf("%-24s %-10s %-12s %-7s %-28s %-18s %-16s %s\n", "EVIDENCE", "STATE", "HOST",
                "KIND", "SOURCE", "SIZE", "SHA256", "STORED (UTC)");
    for (const auto& e : resp.items()) printEvidenceRow(e);
    return kExitOk;
  });
}

int evidenceShow(const Globals& g, const std::string& id) {
  return withClient(g, [&](Client& c) {
    v1::ShowEvidenceRequest req;
    req.set_id(id);
    v1::ShowEvidenceResponse resp;
    auto ctx = c.context(absl::Seconds(30));
    auto s = c.stub->ShowEvidence(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return kExitOk;
    }
    const v1::EvidenceItem& e = resp.item();
    std::printf("evidence      %s (%s)\n", e.id().c_str(), e.state().c_str());
    std::printf("action        %s (%s, requested by %s)\n", e.action_id().c_str(), e.kind().c_str(),
                printable(e.operator_()).c_str());
    std::printf("host          %s\nsource        %s\n", printable(e.host_id()).c_str(),
                printable(e.source()).c_str());
    std::printf("size          %llu bytes (%s)\n", static_cast<unsigned long long>(e.size()),
                formatBytes(e.size()).c_str());
    if (e.state() != "complete") return kExitOk;
    std::printf("sha256        %s (agent and controller agree)\n", e.sha256().c_str());
    std::printf("stored as     %s, %llu bytes, compression %s, sha256 %s\n",
                e.stored_name().c_str(), static_cast<unsigned long long>(e.stored_size()),
                e.compression().c_str(), e.stored_sha256().c_str());
    std::printf("read-only     mode 0444%s\n",
                e.immutable() ? ", immutable attribute set" : " (no immutable attribute)");
    std::printf("received      %s .. %s UTC, %d stream(s), %llu bytes over the wire\n",
                formatTime(e.started_unix_ms()).c_str(), formatTime(e.finished_unix_ms()).c_str(),
                e.streams(), static_cast<unsigned long long>(e.wire_bytes()));
    std::printf("manifest      sha256 %s, signed by the agent:\n%s\n", e.manifest_sha256().c_str(),
                printable(resp.manifest()).c_str());
    return kExitOk;
  });
}

int evidenceGet(const Globals& g, const std::string& id, const std::string& out_path) {
  if (out_path.empty()) {
    printError("evidence get needs --out FILE");
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      printError(absl::StrFormat("cannot create %s: %s", out_path, std::strerror(errno)));
      return errno == EEXIST ? kExitBadInput : kExitFailed;
    }
    bool keep = false;
    absl::Cleanup cleanup = [&] {
      ::close(fd);
      if (!keep) (void)::unlink(out_path.c_str());
    };
    v1::ShowEvidenceRequest req;
    req.set_id(id);
    grpc::ClientContext ctx;
    auto reader = c.stub->GetEvidence(&ctx, req);
    v1::EvidenceData d;
    v1::EvidenceItem item;
    crypto::Sha256 hash;
    std::uint64_t written = 0;
    ProgressLine line;
    const bool tty = !g.json && isatty(STDERR_FILENO);
    while (reader->Read(&d)) {
      if (d.has_item()) item = d.item();
      const std::string& data = d.data();
      std::size_t done = 0;
      while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          printError(absl::StrFormat("writing %s: %s", out_path, std::strerror(errno)));
          ctx.TryCancel();
          (void)reader->Finish();
          return kExitFailed;
        }
        done += static_cast<std::size_t>(n);
      }
      hash.update(data);
      written += data.size();
      if (tty) {
        v1::EvidenceItem shown = item;
        shown.set_total(item.size());
        shown.set_size(written);
        shown.set_state("receiving");
        line.update(shown);
      }
    }
    auto s = reader->Finish();
    line.finishLine();
    if (!s.ok()) return reportRpcError(s);
    if (::fsync(fd) != 0) {
      printError(absl::StrFormat("syncing %s: %s", out_path, std::strerror(errno)));
      return kExitFailed;
    }
    const std::string got = crypto::hex(hash.finish());
    if (written != item.size() || got != item.sha256()) {
      printError(absl::StrFormat(
          "%s: received %d bytes with sha256 %s, but the record says %d bytes with %s; removed", id,
          written, got, item.size(), item.sha256()));
      return kExitFailed;
    }
    keep = true;
    (void)::fchmod(fd, 0444);
    if (g.json) {
      std::printf("{\"evidence_id\": %s, \"out\": %s, \"size\": %llu, \"sha256\": \"%s\"}\n",
                  jsonString(id).c_str(), jsonString(out_path).c_str(),
                  static_cast<unsigned long long>(written), got.c_str());
    } else {
      std::printf("%s: %llu bytes written to %s, sha256 %s (matches the record)\n", id.c_str(),
                  static_cast<unsigned long long>(written), out_path.c_str(), got.c_str());
    }
    return kExitOk;
  });
}

int evidenceVerify(const Globals& g, const std::string& id) {
  return withClient(g, [&](Client& c) {
    v1::ShowEvidenceRequest req;
    req.set_id(id);
    v1::VerifyEvidenceResponse resp;
    auto ctx = c.context(absl::Hours(24));
    auto s = c.stub->VerifyEvidence(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return resp.ok() ? kExitOk : kExitFailed;
    }
    for (const auto& check : resp.checks()) {
      std::printf("%-6s %-12s %s\n", check.ok() ? "ok" : "FAILED", check.name().c_str(),
                  printable(check.detail()).c_str());
    }
    if (!resp.ok()) {
      std::fprintf(stderr, "warden: evidence %s does NOT verify\n", id.c_str());
      return kExitFailed;
    }
    std::printf(
        "evidence %s verified: content, stored file, agent's manifest and the logged "
        "receipt agree\n",
        id.c_str());
    return kExitOk;
  });
}

}  // namespace

absl::StatusOr<absl::Duration> parseDuration(const std::string& text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid duration '%s' (examples: 90s, 15m, 24h, 7d)", text));
  };
  absl::Duration d;
  const std::string& t = text;
  // absl has no days; accept a whole number of days on its own (1 to 99999, no overflow).
  if (t.size() > 1 && t.back() == 'd' && t.find_first_not_of("0123456789") == t.size() - 1) {
    const int days = t.size() <= 6 ? std::atoi(t.c_str()) : 0;
    if (days <= 0) return invalid();
    return absl::Hours(24) * days;
  }
  // absl also accepts "inf"; a duration here must be finite and positive.
  if (!absl::ParseDuration(t, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return invalid();
  }
  return d;
}

int runCli(int argc, char** argv) {
  CLI::App app{
      "warden: contain compromised hosts and prove what was done.\n"
      "Talks to the Warden controller named in the operator profile (--profile or "
      "$WARDEN_PROFILE).\n\nExit status: 0 done and verified; 1 failed on the host; 2 bad input; "
      "3 not authorised; 4 timed out or queued."};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--profile", g.profile_path, "Operator profile (default: $WARDEN_PROFILE)");

  // token create
  auto* token = app.add_subcommand("token", "Join tokens for enrolling agents");
  token->require_subcommand(1);
  std::string ttl = "1h", token_host;
  auto* token_create =
      token->add_subcommand("create", "Print a one-time, expiring join token (alone on stdout)");
  token_create->add_option("--ttl", ttl, "How long the token is valid (e.g. 15m, 24h)")
      ->capture_default_str();
  token_create->add_option("--host-id", token_host, "Only this host id may enroll with it");
  token_create->add_flag("--json", g.json, "JSON output");

  auto* hosts_cmd = app.add_subcommand("hosts", "List enrolled hosts, connection and containment");
  hosts_cmd->add_flag("--json", g.json, "JSON output");

  SubmitArgs sa;
  auto* isolate = app.add_subcommand(
      "isolate",
      "Cut HOST off the network (IPv4 and IPv6, in, out and forwarded) except its channel to "
      "the controller and the --allow entries. Open connections die too. Returns when the "
      "host's signed receipt is back.");
  isolate->add_option("HOST", sa.hosts, "Host ids")->required();
  isolate->add_option("--allow", sa.allow,
                      "Keep a responder reachable: CIDR, CIDR:PORT or [IPv6-CIDR]:PORT");
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--reason", sa.reason, "Why (recorded with the action)");
    cmd->add_flag("--no-wait", sa.no_wait, "Return at once with the action ids (exit 4)");
    cmd->add_option("--timeout", sa.timeout, "How long to wait for the receipts")
        ->capture_default_str();
    cmd->add_flag("--json", g.json, "JSON output");
  };
  common(isolate);

  auto* release = app.add_subcommand(
      "release",
      "Lift isolation: removes exactly Warden's isolation rules, nothing else on the host. "
      "Address blocks stay.");
  release->add_option("HOST", sa.hosts, "Host ids")->required();
  common(release);

  auto* block = app.add_subcommand(
      "block",
      "Drop all traffic to and from addresses (IPv4/IPv6, CIDR allowed) on the named hosts, or "
      "with --all on every host, including hosts that enroll later. Independent of isolation.");
  block->add_option("ADDR", sa.addresses, "Addresses or CIDRs")->required();
  block->add_option("--host", sa.hosts, "Host to block on (repeatable)");
  block->add_flag("--all", sa.all_hosts, "Every host in the fleet, now and later");
  common(block);
  auto* unblock = app.add_subcommand("unblock", "Lift address blocks (--host HOST... or --all)");
  unblock->add_option("ADDR", sa.addresses, "Addresses or CIDRs")->required();
  unblock->add_option("--host", sa.hosts, "Host to unblock on (repeatable)");
  unblock->add_flag("--all", sa.all_hosts, "Every host, and drop the fleet-wide block");
  common(unblock);

  auto* blocks_cmd = app.add_subcommand("blocks", "List fleet-wide blocks");
  blocks_cmd->add_flag("--json", g.json, "JSON output");

  std::string op_name, op_role, op_out;
  auto* op_cmd = app.add_subcommand("operator", "Operators and their roles");
  op_cmd->require_subcommand(1);
  auto* op_add = op_cmd->add_subcommand(
      "add",
      "Add an operator and write their profile. Roles: admin (everything), responder (all "
      "containment actions), auditor (read hosts, actions and the log; nothing else).");
  op_add->add_option("NAME", op_name, "Operator name")->required();
  op_add->add_option("--role", op_role, "admin, responder or auditor")
      ->required()
      ->check(CLI::IsMember({"admin", "responder", "auditor"}));
  op_add->add_option("--out", op_out, "Profile file to write (mode 0600)")->required();
  std::string op_reason;
  auto* op_revoke = op_cmd->add_subcommand(
      "revoke",
      "Revoke an operator at once (a lost laptop, a leaver): every later call with their "
      "profile is refused. Logged in the action log.");
  op_revoke->add_option("NAME", op_name, "Operator name")->required();
  op_revoke->add_option("--reason", op_reason, "Why (recorded in the log)");
  op_revoke->add_flag("--json", g.json, "JSON output");

  std::string one_host;
  auto* sessions = app.add_subcommand("sessions", "List the host's login sessions");
  sessions->add_option("HOST", one_host, "Host id")->required();
  sessions->add_flag("--json", g.json, "JSON output");

  // Selectors accumulate as "key=value" in the order given.
  std::vector<std::string> sel;
  auto selector = [&sel](CLI::App* cmd, const char* flag, const char* key, const char* help) {
    cmd->add_option_function<std::vector<std::string>>(
           flag,
           [&sel, key](const std::vector<std::string>& values) {
             for (const auto& v : values) sel.push_back(std::string(key) + "=" + v);
           },
           help)
        ->take_all();
  };
  bool dry_run = false;
  auto* kill = app.add_subcommand(
      "kill-sessions",
      "Freeze, record (with exe hashes) and kill the selected login sessions' processes, fork "
      "loops included. A process is selected when it matches any selector; --user also "
      "catches processes that kept the user's login uid after sudo/su.");
  kill->add_option("HOST", one_host, "Host id")->required();
  selector(kill, "--user", "user", "Login user");
  selector(kill, "--session", "session", "Session id (from 'warden sessions')");
  selector(kill, "--tty", "tty", "Terminal, e.g. pts/3");
  selector(kill, "--from", "from", "Remote address or CIDR of the login");
  selector(kill, "--pid", "pid", "A process and its session");
  selector(kill, "--except", "except", "Never kill this user's processes");
  kill->add_flag("--dry-run", dry_run, "Show what would be killed; change nothing");
  kill->add_flag("--json", g.json, "JSON output");

  bool all_accounts = false, rotate_root = false;
  auto* lock = app.add_subcommand(
      "lock-accounts",
      "Lock accounts ('!' before the hash and account expiry; old values kept for an exact "
      "unlock). --all: every login account and root, except --except.");
  lock->add_option("HOST", one_host, "Host id")->required();
  selector(lock, "--user", "user", "Account to lock");
  lock->add_flag("--all", all_accounts,
                 "Every login account (real shell, login.defs UID range) and root");
  selector(lock, "--except", "except", "With --all: leave this account alone");
  lock->add_flag("--rotate-root", rotate_root,
                 "Also set a new random root password, shown once here and stored nowhere");
  lock->add_flag("--json", g.json, "JSON output");

  auto* unlock =
      app.add_subcommand("unlock-accounts", "Restore the exact account lines from before the lock");
  unlock->add_option("HOST", one_host, "Host id")->required();
  selector(unlock, "--user", "user", "Account to unlock");
  unlock->add_flag("--all", all_accounts, "Every account Warden locked");
  unlock->add_flag("--json", g.json, "JSON output");

  bool reboot = false, halt = false, now = false, yes = false;
  auto* shutdown = app.add_subcommand(
      "shutdown",
      "Power the host off (or --reboot/--halt) after its receipt is logged. Disks are never "
      "touched. --now: sync and reboot(2) at once; otherwise the init system's orderly path.");
  shutdown->add_option("HOST", one_host, "Host id")->required();
  auto* reboot_flag = shutdown->add_flag("--reboot", reboot, "Reboot instead of powering off");
  shutdown->add_flag("--halt", halt, "Halt instead of powering off")->excludes(reboot_flag);
  shutdown->add_flag("--now", now, "Skip the orderly shutdown: sync, then reboot(2)");
  shutdown->add_flag("--yes", yes, "Required: confirms the shutdown");
  shutdown->add_flag("--json", g.json, "JSON output");

  ImageArgs ia;
  auto* image = app.add_subcommand(
      "image",
      "Take a forensic image of DEVICE on HOST (a disk, partition, LVM volume or file): read "
      "read-only without filling the page cache, hashed (SHA-256) on the host and again on the "
      "controller, stored read-only in the evidence store with a manifest the agent signs. "
      "Interrupted transfers resume where the controller stands. Prints the evidence id; a "
      "progress bar on a terminal.");
  image->add_option("HOST", one_host, "Host id")->required();
  image->add_option("DEVICE", ia.devices,
                    "Absolute path(s) on the host, e.g. /dev/sda, /dev/vg0/root, /dev/loop3");
  image->add_flag("--all-disks", ia.all_disks,
                  "Every whole disk in /sys/block (loop, ram and zram devices only when named)");
  image->add_option("--compress", ia.compress,
                    "zstd: store compressed (one frame per chunk; 'zstd -d' restores the image)");
  image->add_option("--rate", ia.rate_mb, "Limit the transfer to this many MB/s");
  image->add_option("--timeout", ia.timeout, "How long to wait for the receipt")
      ->capture_default_str();
  image->add_flag("--json", g.json, "JSON output");

  std::string collect_timeout = "2h", collect_max_member = "", collect_max_total = "";
  double collect_rate = 0;
  auto* collect = app.add_subcommand(
      "collect",
      "Collect a triage bundle from HOST for the timeline (tar+zstd): processes with executable "
      "hashes, sockets, sessions (utmp/wtmp/lastlog), auth logs and the last day of the "
      "journal, crontabs, systemd units, authorized_keys, shell histories, kernel modules, the "
      "firewall ruleset and mounts; every member hashed in MANIFEST.json; size limits reported, "
      "never silent. Stored in the evidence store like an image.");
  collect->add_option("HOST", one_host, "Host id")->required();
  collect->add_option("--max-member-mb", collect_max_member, "Largest member kept whole (64)");
  collect->add_option("--max-total-mb", collect_max_total, "Content limit of the bundle (1024)");
  collect->add_option("--rate", collect_rate, "Limit the transfer to this many MB/s");
  collect->add_option("--timeout", collect_timeout, "How long to wait for the receipt")
      ->capture_default_str();
  collect->add_flag("--json", g.json, "JSON output");

  std::string evidence_id, evidence_out, evidence_host;
  auto* evidence = app.add_subcommand("evidence", "The controller's evidence store");
  evidence->require_subcommand(1);
  auto* ev_list = evidence->add_subcommand("list", "Images and bundles, complete or not");
  ev_list->add_option("--host", evidence_host, "Only this host");
  ev_list->add_flag("--json", g.json, "JSON output");
  auto* ev_show = evidence->add_subcommand(
      "show", "One item: its custody record and the manifest the agent signed");
  ev_show->add_option("ID", evidence_id, "Evidence id")->required();
  ev_show->add_flag("--json", g.json, "JSON output");
  auto* ev_get = evidence->add_subcommand(
      "get", "Copy an item's content (decompressed) to FILE, checking size and SHA-256");
  ev_get->add_option("ID", evidence_id, "Evidence id")->required();
  ev_get->add_option("--out", evidence_out, "File to create (must not exist)")->required();
  ev_get->add_flag("--json", g.json, "JSON output");
  auto* ev_verify = evidence->add_subcommand(
      "verify",
      "Re-read the stored content and check it against the custody record, the agent's signed "
      "manifest and the agent's signed receipt in the action log. Exit 0 verified, 1 not");
  ev_verify->add_option("ID", evidence_id, "Evidence id")->required();
  ev_verify->add_flag("--json", g.json, "JSON output");

  std::string actions_host;
  auto* actions = app.add_subcommand("actions", "List actions and where each one is");
  actions->add_option("--host", actions_host, "Only this host");
  actions->add_flag("--json", g.json, "JSON output");

  std::string action_id;
  auto* action = app.add_subcommand("action", "Show one action with its receipt details");
  action->add_option("ID", action_id, "Action id")->required();
  action->add_flag("--json", g.json, "JSON output");

  auto* audit = app.add_subcommand(
      "audit",
      "The signed action log: every request, command, receipt, refusal and key, in an RFC 6962 "
      "Merkle tree with signed checkpoints. show/export/prove/checkpoint ask the controller "
      "(any role); verify works offline on an exported file.");
  audit->require_subcommand(1);
  std::string audit_host, audit_out, audit_file, audit_vkey;
  std::uint64_t audit_last = 50, audit_index = 0;
  std::vector<std::string> audit_checkpoints, audit_evidence;
  auto* audit_show = audit->add_subcommand("show", "Timeline: who did what, where, and the result");
  audit_show->add_option("--host", audit_host, "Only entries about this host");
  audit_show->add_option("--last", audit_last, "Show the last N entries (0: all)")
      ->capture_default_str();
  audit_show->add_flag("--json", g.json, "JSON output");
  auto* audit_export = audit->add_subcommand(
      "export", "Write the whole log, its checkpoints and keys to one self-contained file");
  audit_export->add_option("--out", audit_out, "File to write (must not exist)")->required();
  audit_export->add_flag("--json", g.json, "JSON output");
  auto* audit_verify = audit->add_subcommand(
      "verify",
      "Check an exported log offline: every signature, the tree against each checkpoint, the "
      "request -> dispatch -> receipt chains and times. Exit 0 verified, 1 the first bad entry "
      "is printed, 2 unreadable input.");
  audit_verify->add_option("FILE", audit_file, "Export file")->required();
  audit_verify->add_option("--vkey", audit_vkey,
                           "The log's verifier key file (log.vkey) to pin; without it the key "
                           "in the file is trusted");
  audit_verify
      ->add_option("--checkpoint", audit_checkpoints,
                   "A checkpoint saved earlier ('warden audit checkpoint > FILE'): the log must "
                   "extend it (repeatable)")
      ->take_all();
  audit_verify
      ->add_option("--evidence", audit_evidence,
                   "An evidence item copied from the store (ID.img, ID.img.zst, ID.tar.zst or "
                   "ID.manifest, the item's other file beside it): its content must hash to its "
                   "manifest, the manifest carry the agent's signature, and the log the agent's "
                   "receipt naming both (repeatable; needs --vkey)")
      ->take_all();
  audit_verify->add_flag("--json", g.json, "JSON output");
  auto* audit_prove = audit->add_subcommand(
      "prove", "Inclusion proof of one entry against the latest signed checkpoint");
  audit_prove->add_option("INDEX", audit_index, "Entry index (0-based)")->required();
  audit_prove->add_flag("--json", g.json, "JSON output");
  auto* audit_checkpoint =
      audit->add_subcommand("checkpoint", "Print the latest signed checkpoint (a signed note)");
  audit_checkpoint->add_flag("--json", g.json, "JSON output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  if (*token_create) return tokenCreate(g, ttl, token_host);
  if (*audit_show) return auditShow(g, audit_host, audit_last);
  if (*audit_export) return auditExport(g, audit_out);
  if (*audit_verify) {
    return auditVerify(g, audit_file, audit_vkey, audit_checkpoints, audit_evidence);
  }
  if (*audit_prove) return auditProve(g, audit_index);
  if (*audit_checkpoint) return auditCheckpoint(g);
  if (*hosts_cmd) return hosts(g);
  if (*isolate) return submit(g, "isolate", sa);
  if (*release) return submit(g, "release", sa);
  if (*block) return submit(g, "block", sa);
  if (*unblock) return submit(g, "unblock", sa);
  if (*blocks_cmd) return listBlocks(g);
  if (*op_add) return operatorAdd(g, op_name, op_role, op_out);
  if (*op_revoke) return operatorRevoke(g, op_name, op_reason);
  if (*sessions) return sessionsCmd(g, one_host);
  if (*image) return imageCmd(g, one_host, ia);
  if (*collect) {
    std::vector<std::string> args;
    if (collect_rate < 0) {
      printError("--rate must be positive");
      return kExitBadInput;
    }
    if (collect_rate > 0) args.push_back(absl::StrFormat("rate=%g", collect_rate));
    if (!collect_max_member.empty()) args.push_back("max_member_mb=" + collect_max_member);
    if (!collect_max_total.empty()) args.push_back("max_total_mb=" + collect_max_total);
    return hostAction(g, "collect", one_host, args, collect_timeout, printEvidenceDetails);
  }
  if (*ev_list) return evidenceList(g, evidence_host);
  if (*ev_show) return evidenceShow(g, evidence_id);
  if (*ev_get) return evidenceGet(g, evidence_id, evidence_out);
  if (*ev_verify) return evidenceVerify(g, evidence_id);
  if (*kill) {
    bool any = false;
    for (const auto& s : sel) any = any || s.rfind("except=", 0) != 0;
    if (!any) {
      printError("kill-sessions needs a selector: --user, --session, --tty, --from or --pid");
      return kExitBadInput;
    }
    return killSessionsCmd(g, one_host, sel, dry_run);
  }
  if (*lock || *unlock) {
    const bool users = std::any_of(sel.begin(), sel.end(),
                                   [](const std::string& s) { return s.rfind("user=", 0) == 0; });
    if (users == all_accounts) {
      printError("name the accounts with --user NAME, or use --all (not both)");
      return kExitBadInput;
    }
    if (all_accounts) sel.push_back("all=1");
    if (*unlock) return unlockAccountsCmd(g, one_host, sel);
    return lockAccountsCmd(g, one_host, sel, rotate_root);
  }
  if (*shutdown) {
    if (!yes) {
      printError("shutdown needs --yes (it powers the host off; nothing was sent)");
      return kExitBadInput;
    }
    const std::string mode = reboot ? "reboot" : halt ? "halt" : "poweroff";
    return hostAction(g, "shutdown", one_host, {"mode=" + mode, now ? "now=1" : "now=0"}, "60s",
                      [](const v1::Action&) {});
  }
  if (*actions) return listActions(g, actions_host);
  if (*action) return showAction(g, action_id);
  return kExitBadInput;
}

}  // namespace warden::cli
