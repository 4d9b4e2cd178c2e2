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
  if (*isolate) return submit(g, "isolate", sa);
  if (*release) return submit(g, "release", sa);
  if (*block) return submit(g, "block", sa);
  if (*unblock) return submit(g, "unblock", sa);
  if (*blocks_cmd) return listBlocks(g);
  if (*actions) return listActions(g, actions_host);
  if (*action) return showAction(g, action_id);
  return kExitBadInput;
}

}  // namespace warden::cli
