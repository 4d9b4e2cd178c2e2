#include "controller/cli/cli.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/net.h"
#include "common/profile.h"
#include "warden/v1/operator.grpc.pb.h"

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

int withClient(const Globals& g, const std::function<int(Client&)>& fn) {
  auto c = Client::connect(g);
  if (!c.ok()) {
    printError(std::string(c.status().message()));
    return c.status().code() == absl::StatusCode::kInvalidArgument ||
                   c.status().code() == absl::StatusCode::kNotFound
               ? kExitBadInput
               : kExitFailed;
  }
  return fn(*c);
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
      std::printf("%-20s %-13s %-11s %-10s %-9s %s\n", h.host_id().c_str(),
                  h.connected() ? "connected" : "disconnected", h.containment().c_str(),
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

int submit(const Globals& g, const std::string& kind, const std::vector<std::string>& host_ids,
           const std::vector<std::string>& allow, const std::string& reason, bool no_wait,
           const std::string& timeout_text) {
  v1::SubmitRequest req;
  req.set_kind(kind);
  req.set_reason(reason);
  for (const auto& h : host_ids) req.add_hosts(h);
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
    auto s = c.stub->Submit(ctx.get(), req, &resp);
    if (!s.ok()) return reportRpcError(s);
    const int rc = actionExitCode(resp);
    if (g.json) {
      std::printf("%s\n", toJson(resp).c_str());
      return rc;
    }
    const char* done_word = kind == "isolate" ? "isolated" : "released";
    for (const auto& a : resp.actions()) {
      if (a.state() == "succeeded") {
        std::printf("%s: %s (%s; action %s)\n", a.host_id().c_str(), done_word,
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

  std::vector<std::string> iso_hosts, allow;
  std::string reason, timeout = "30s";
  bool no_wait = false;
  auto* isolate = app.add_subcommand(
      "isolate",
      "Cut HOST off the network (IPv4 and IPv6, in, out and forwarded) except its channel to "
      "the controller and the --allow entries. Open connections die too. Returns when the "
      "host's signed receipt is back.");
  isolate->add_option("HOST", iso_hosts, "Host ids")->required();
  isolate->add_option("--allow", allow,
                      "Keep a responder reachable: CIDR, CIDR:PORT or [IPv6-CIDR]:PORT");
  isolate->add_option("--reason", reason, "Why (recorded with the action)");
  isolate->add_flag("--no-wait", no_wait, "Return at once with the action id (exit 4)");
  isolate->add_option("--timeout", timeout, "How long to wait for the receipt")
      ->capture_default_str();
  isolate->add_flag("--json", g.json, "JSON output");

  std::vector<std::string> rel_hosts;
  auto* release = app.add_subcommand(
      "release", "Lift isolation: removes exactly Warden's rules, nothing else on the host.");
  release->add_option("HOST", rel_hosts, "Host ids")->required();
  release->add_option("--reason", reason, "Why (recorded with the action)");
  release->add_flag("--no-wait", no_wait, "Return at once with the action id (exit 4)");
  release->add_option("--timeout", timeout, "How long to wait for the receipt")
      ->capture_default_str();
  release->add_flag("--json", g.json, "JSON output");

  std::string actions_host;
  auto* actions = app.add_subcommand("actions", "List actions and where each one is");
  actions->add_option("--host", actions_host, "Only this host");
  actions->add_flag("--json", g.json, "JSON output");

  std::string action_id;
  auto* action = app.add_subcommand("action", "Show one action with its receipt details");
  action->add_option("ID", action_id, "Action id")->required();
  action->add_flag("--json", g.json, "JSON output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  if (*token_create) return tokenCreate(g, ttl, token_host);
  if (*hosts_cmd) return hosts(g);
  if (*isolate) return submit(g, "isolate", iso_hosts, allow, reason, no_wait, timeout);
  if (*release) return submit(g, "release", rel_hosts, {}, reason, no_wait, timeout);
  if (*actions) return listActions(g, actions_host);
  if (*action) return showAction(g, action_id);
  return kExitBadInput;
}

}  // namespace warden::cli
