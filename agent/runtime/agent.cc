#include "agent/runtime/agent.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/os/host_facts.h"
#include "agent/runtime/evidence_upload.h"
#include "common/audit.h"
#include "common/files.h"
#include "common/log.h"
#include "common/net.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::size_t kMaxPendingEvents = 256;
constexpr std::size_t kMaxQueuedCommands = 1024;
constexpr char kVersion[] = "0.1.0";

std::vector<IpPrefix> resolve(const std::string& host) {
  std::vector<IpPrefix> out;
  if (auto literal = IpPrefix::parse(host); literal.ok()) return {*literal};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* a = res; a != nullptr && out.size() < 16; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, buf, sizeof(buf));
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, buf,
                sizeof(buf));
    } else {
      continue;
    }
    if (auto p = IpPrefix::parse(buf); p.ok()) {
      if (std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
    }
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::create(const AgentOptions& options,
                                                     std::unique_ptr<StateStore> store,
                                                     AgentParts parts) {
  WARDEN_ASSIGN_OR_RETURN(std::string key_pem, readFile(store->path("receipt.key")));
  WARDEN_ASSIGN_OR_RETURN(auto key, crypto::Ed25519Key::fromPem(key_pem));
  std::unique_ptr<Agent> agent(
      new Agent(options, std::move(store), std::move(parts), std::move(key)));
  WARDEN_ASSIGN_OR_RETURN(agent->trust_.host_id, agent->store_->get("host_id"));
  WARDEN_ASSIGN_OR_RETURN(agent->trust_.command_public_key,
                          agent->store_->get("command_public_key"));
  WARDEN_ASSIGN_OR_RETURN(agent->trust_.log_vkey, agent->store_->get("log_vkey"));
  WARDEN_ASSIGN_OR_RETURN(agent->controller_, agent->store_->get("controller"));
  WARDEN_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(agent->controller_));
  agent->controller_port_ = hp.port;
  for (const auto& a : absl::StrSplit(agent->store_->getOr("controller_addresses", ""), ',')) {
    if (auto p = IpPrefix::parse(std::string(a)); p.ok())
      agent->controller_addresses_.push_back(*p);
  }
  WARDEN_RETURN_IF_ERROR(agent->containment_->load());
  return agent;
}

Agent::Agent(AgentOptions options, std::unique_ptr<StateStore> store, AgentParts parts,
             crypto::Ed25519Key receipt_key)
    : options_(std::move(options)),
      store_(std::move(store)),
      parts_(std::move(parts)),
      receipt_key_(std::move(receipt_key)) {
  containment_ = std::make_unique<Containment>(*parts_.firewall, *parts_.conntrack, *store_);
}

Agent::~Agent() {
  stop();
  if (watch_thread_.joinable()) watch_thread_.join();
  std::vector<std::thread> imaging;
  {
    std::lock_guard<std::mutex> lock(imaging_mu_);
    imaging.swap(imaging_threads_);
  }
  for (auto& t : imaging) t.join();
}

void Agent::stop() {
  stopping_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (ctx_ != nullptr) ctx_->TryCancel();
  cv_.notify_all();
}

std::vector<IpPrefix> Agent::pinController() {
  HostPort hp = *HostPort::parse(controller_);
  std::vector<std::string> stored;
  for (const auto& a : resolve(hp.host)) {
    if (std::find(controller_addresses_.begin(), controller_addresses_.end(), a) ==
        controller_addresses_.end()) {
      controller_addresses_.push_back(a);
    }
  }
  for (const auto& a : controller_addresses_) stored.push_back(a.toString());
  (void)store_->set("controller_addresses", absl::StrJoin(stored, ","));
  return controller_addresses_;
}

absl::Status Agent::run() {
  // Containment first: a host that was isolated stays isolated from the first moment.
  auto restored = containment_->restore();
  if (!restored.ok()) {
    logError("host %s: re-applying persisted containment failed: %s", trust_.host_id,
             restored.status().message());
    sendEvent("restore-failed", std::string(restored.status().message()));
  } else if (!restored->empty()) {
    logInfo("host %s: re-applied persisted containment (%s)", trust_.host_id,
            restored->isolation ? "isolated" : "blocks only");
    sendEvent("restore", restored->isolation ? "isolation re-applied at agent start"
                                             : "blocks re-applied at agent start");
  }
  watch_thread_ = std::thread([this] { watchLoop(); });

  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = absl::Milliseconds(250);
  while (!stopping_) {
    const absl::Time started = absl::Now();
    auto s = session();
    if (stopping_) break;
    if (absl::Now() - started > absl::Seconds(30)) backoff = absl::Milliseconds(250);
    logWarning("host %s: controller stream ended (%s); reconnecting in ~%s", trust_.host_id,
               s.ToString(), absl::FormatDuration(backoff));
    // Full jitter (AWS architecture blog): spread reconnect storms after a controller restart.
    std::uniform_int_distribution<std::int64_t> jitter(absl::ToInt64Milliseconds(backoff) / 2,
                                                       absl::ToInt64Milliseconds(backoff));
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(jitter(rng)), [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (watch_thread_.joinable()) watch_thread_.join();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Agent::makeChannel(bool bulk) {
  WARDEN_ASSIGN_OR_RETURN(std::string ca, readFile(store_->path("ca.pem")));
  WARDEN_ASSIGN_OR_RETURN(std::string key, readFile(store_->path("tls.key")));
  WARDEN_ASSIGN_OR_RETURN(std::string cert, readFile(store_->path("tls.crt")));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  ssl.pem_private_key = key;
  ssl.pem_cert_chain = cert;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("warden-controller");
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(4 << 20);
  // Bulk transfers get a connection of their own: they never queue behind or ahead of the
  // command stream's receipts and heartbeats.
  if (bulk) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(controller_, grpc::SslCredentials(ssl), args);
}

absl::Status Agent::session() {
  pinController();
  WARDEN_ASSIGN_OR_RETURN(auto channel, makeChannel(false));
  auto stub = v1::AgentChannel::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Connect(&ctx);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("stopping");
    stream_ = stream.get();
    ctx_ = &ctx;
    connected_ = true;
  }
  v1::AgentMessage hello;
  hello.mutable_hello()->set_host_id(trust_.host_id);
  *hello.mutable_hello()->mutable_facts() = facts();
  bool ok = send(hello);
  std::thread worker, heartbeat;
  if (ok) {
    logInfo("host %s: connected to controller %s", trust_.host_id, controller_);
    worker = std::thread([this] { commandWorker(); });
    heartbeat = std::thread([this] { heartbeatLoop(); });
    std::deque<v1::AgentEvent> events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      events.swap(pending_events_);
    }
    for (const auto& e : events) {
      v1::AgentMessage m;
      *m.mutable_event() = e;
      send(m);
    }
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (msg.has_command()) {
        if (commands_.size() < kMaxQueuedCommands) commands_.push_back(msg.command());
      } else if (msg.has_probe_ack() && msg.probe_ack().nonce() == probe_nonce_) {
        probe_acked_ = true;
      } else if (msg.has_receipt_ack()) {
        if (acked_receipts_.size() >= 64) acked_receipts_.erase(acked_receipts_.begin());
        acked_receipts_.push_back(msg.receipt_ack().command_id());
      }
      cv_.notify_all();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    connected_ = false;
    cv_.notify_all();
  }
  if (worker.joinable()) worker.join();
  if (heartbeat.joinable()) heartbeat.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = nullptr;
    ctx_ = nullptr;
    commands_.clear();
  }
  ctx.TryCancel();
  grpc::Status st = stream->Finish();
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrFormat("%s", st.error_message()));
  }
  return absl::OkStatus();
}

bool Agent::send(const v1::AgentMessage& m) {
  std::lock_guard<std::mutex> wl(write_mu_);
  Stream* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!connected_) return false;
    s = stream_;
  }
  return s != nullptr && s->Write(m);
}

void Agent::sendEvent(const std::string& kind, const std::string& detail,
                      const std::string& command_id) {
  v1::AgentMessage m;
  auto* e = m.mutable_event();
  e->set_kind(kind);
  e->set_detail(detail);
  e->set_at_unix_ms(nowUnixMs());
  e->set_command_id(command_id);
  if (send(m)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_events_.size() >= kMaxPendingEvents) pending_events_.pop_front();
  pending_events_.push_back(*e);
}

v1::Facts Agent::facts() {
  const HostFacts hf = collectHostFacts();
  v1::Facts f;
  f.set_hostname(hf.hostname);
  for (const auto& a : hf.addresses) f.add_addresses(a);
  f.set_kernel(hf.kernel);
  f.set_firewall_backend(parts_.firewall->backend());
  f.set_agent_version(kVersion);
  const ContainmentState c = containment_->current();
  f.set_isolated(c.isolation.has_value());
  f.set_blocked_count(static_cast<std::uint32_t>(c.blocked.size()));
  return f;
}

void Agent::heartbeatLoop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(
          lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.heartbeat_interval)),
          [this] { return !connected_ || stopping_; });
      if (!connected_ || stopping_) return;
    }
    v1::AgentMessage m;
    m.mutable_heartbeat()->set_sent_unix_ms(nowUnixMs());
    *m.mutable_heartbeat()->mutable_facts() = facts();
    send(m);
  }
}

void Agent::watchLoop() {
  while (!stopping_) {
    if (parts_.watch) {
      auto changed = parts_.watch->waitForChange(absl::Seconds(1));
      if (!changed.ok()) {
        logWarning("netfilter watch failed (%s); polling instead", changed.status().message());
        parts_.watch.reset();
      }
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
    }
    if (stopping_) break;
    auto tampered = containment_->repairIfTampered();
    if (!tampered.ok()) {
      logError("host %s: %s", trust_.host_id, tampered.status().message());
      sendEvent("tamper", std::string(tampered.status().message()));
    } else if (tampered->has_value()) {
      logWarning("host %s: %s", trust_.host_id, **tampered);
      sendEvent("tamper", **tampered);
    }
  }
}

void Agent::commandWorker() {
  for (;;) {
    v1::SignedCommand sc;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !commands_.empty() || !connected_ || stopping_; });
      if (!connected_ || stopping_) return;
      sc = std::move(commands_.front());
      commands_.pop_front();
    }
    handleCommand(sc);
  }
}

bool Agent::probeController() {
  auto rnd = crypto::randomBytes(8);
  const std::string nonce = rnd.ok() ? crypto::hex(*rnd) : std::to_string(nowUnixMs());
  {
    std::lock_guard<std::mutex> lock(mu_);
    probe_nonce_ = nonce;
    probe_acked_ = false;
  }
  v1::AgentMessage m;
  m.mutable_probe()->set_nonce(nonce);
  if (!send(m)) return false;
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(
             lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.rollback_window)),
             [this] { return probe_acked_ || !connected_ || stopping_; }) &&
         probe_acked_;
}

void Agent::reply(const Receipt& r, bool keep) {
  const std::string bytes = encodeReceipt(r);
  auto sig = receipt_key_.sign(bytes);
  if (!sig.ok()) {
    logError("host %s: cannot sign receipt for %s: %s", trust_.host_id, r.command_id,
             sig.status().message());
    return;
  }
  if (keep) {
    if (auto s = store_->saveReceipt(r.command_id, StoredReceipt{bytes, *sig}); !s.ok()) {
      logError("host %s: cannot store receipt for %s: %s", trust_.host_id, r.command_id,
               s.message());
    }
  }
  v1::AgentMessage m;
  m.mutable_receipt()->set_receipt(bytes);
  m.mutable_receipt()->set_signature(*sig);
  send(m);
}

void Agent::handleCommand(const v1::SignedCommand& sc) {
  Receipt r;
  r.host_id = trust_.host_id;
  r.started_unix_ms = nowUnixMs();
  // An authentic command (signed by the pinned command key, for this host) that was answered
  // before gets that answer again, whatever else changed since (expiry, proof): one command,
  // one receipt.
  const bool authentic =
      crypto::ed25519Verify(trust_.command_public_key, sc.command(), sc.signature()).ok();
  auto raw = decodeCommand(sc.command());
  if (authentic && raw.ok() && raw->host_id == trust_.host_id) {
    if (auto stored = store_->findReceipt(raw->id); stored.ok() && stored->has_value()) {
      v1::AgentMessage m;
      m.mutable_receipt()->set_receipt((*stored)->receipt);
      m.mutable_receipt()->set_signature((*stored)->signature);
      send(m);
      return;
    }
  }
  auto cmd = verifyCommand(sc.command(), sc.signature(), trust_, r.started_unix_ms);
  // Log before act: a command the controller has not logged is not executed.
  if (cmd.ok()) {
    DispatchProof proof;
    proof.checkpoint = sc.checkpoint();
    proof.index = sc.log_index();
    proof.entry = sc.log_entry();
    proof.proof.assign(sc.inclusion_proof().begin(), sc.inclusion_proof().end());
    if (auto logged = verifyDispatchProof(trust_.log_vkey, sc.command(), sc.signature(), proof);
        !logged.ok()) {
      cmd = absl::PermissionDeniedError(
          absl::StrFormat("not proven to be in the action log: %s", logged.message()));
    }
  }
  if (!cmd.ok()) {
    // Name the command if its bytes at least decode, so the controller can match the refusal.
    if (raw.ok()) {
      r.command_id = raw->id;
      r.kind = raw->kind;
    }
    r.status = ReceiptStatus::kRefused;
    r.message = std::string(cmd.status().message());
    r.finished_unix_ms = nowUnixMs();
    logWarning("host %s: refused command %s: %s", trust_.host_id, r.command_id, r.message);
    sendEvent("refusal", r.message, r.command_id);
    // The refusal of an authentic command is its one answer; a forged command must not be
    // able to claim an id, so its refusal is not kept.
    reply(r, /*keep=*/authentic && raw.ok() && raw->host_id == trust_.host_id);
    return;
  }
  r.command_id = cmd->id;
  r.kind = cmd->kind;
  if (cmd->kind == "image" || cmd->kind == "collect") {
    std::lock_guard<std::mutex> lock(imaging_mu_);
    // Delivered again while it runs (a reconnect): its receipt comes when it is done.
    if (!imaging_.insert(cmd->id).second) return;
    imaging_threads_.emplace_back([this, c = *cmd, r]() mutable {
      ActionOutcome out = c.kind == "image" ? imageDevice(c) : collectTriage(c);
      {
        std::lock_guard<std::mutex> lock(imaging_mu_);
        imaging_.erase(c.id);
      }
      // Stopped part way: no receipt, so the controller delivers it again and it resumes.
      if (out.details.contains("cancelled")) return;
      r.status = out.ok ? ReceiptStatus::kSucceeded : ReceiptStatus::kFailed;
      r.message = out.message;
      r.details = out.details;
      r.finished_unix_ms = nowUnixMs();
      logInfo("host %s: %s %s: %s", trust_.host_id, c.kind, c.id, r.message);
      reply(r);
      // The receipt is stored: the bundle it names has done its job.
      if (c.kind == "collect") (void)std::remove(collectPath(c.id).c_str());
    });
    return;
  }
  ActionOutcome out;
  if (cmd->kind == "isolate") {
    IsolationPolicy policy;
    policy.controller_addresses = controller_addresses_;
    policy.controller_port = controller_port_;
    bool bad = false;
    for (const auto& a : cmd->allow) {
      auto e = AllowEntry::parse(a);
      if (!e.ok()) {
        out.message = absl::StrFormat("bad allow entry: %s", e.status().message());
        bad = true;
        break;
      }
      policy.allow.push_back(*e);
    }
    if (!bad) {
      if (policy.controller_addresses.empty()) {
        out.message = "no pinned controller address: refusing to isolate (would strand the host)";
      } else {
        out = containment_->isolate(policy, [this] { return probeController(); });
      }
    }
  } else if (cmd->kind == "release") {
    out = containment_->release();
  } else if (cmd->kind != "block" && cmd->kind != "unblock") {
    out = runHostAction(*cmd);
  } else {
    std::vector<IpPrefix> prefixes;
    for (const auto& a : cmd->addresses) {
      auto p = IpPrefix::parse(a);
      if (!p.ok()) {
        out.message = absl::StrFormat("bad address: %s", p.status().message());
        prefixes.clear();
        break;
      }
      prefixes.push_back(*p);
    }
    if (prefixes.empty() && out.message.empty()) out.message = "no address to block";
    if (!prefixes.empty()) {
      out = cmd->kind == "block" ? containment_->block(prefixes, controller_addresses_)
                                 : containment_->unblock(prefixes);
    }
  }
  r.status = out.ok ? ReceiptStatus::kSucceeded : ReceiptStatus::kFailed;
  r.message = out.message;
  r.details = out.details;
  r.finished_unix_ms = nowUnixMs();
  logInfo("host %s: %s %s: %s", trust_.host_id, cmd->kind, cmd->id, r.message);
  reply(r);
  if (out.ok && out.after_ack) {
    // Shutdown: the receipt must be in the controller's hands before the host goes down.
    if (!waitForReceiptAck(cmd->id, absl::Seconds(10))) {
      logWarning("host %s: no acknowledgement of %s within 10 s; proceeding", trust_.host_id,
                 cmd->id);
    }
    out.after_ack();
  }
}

bool Agent::waitForReceiptAck(const std::string& command_id, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)), [&] {
    return std::find(acked_receipts_.begin(), acked_receipts_.end(), command_id) !=
               acked_receipts_.end() ||
           stopping_;
  });
}

namespace {

// Upload failures worth another attempt: the controller restarted, the stream broke, or it is
// busy. Anything else (a full evidence disk, a changed source, a refusal) is final.
bool retryableUpload(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
      return true;
    case absl::StatusCode::kFailedPrecondition:
      return absl::StrContains(s.message(), "resume there");
    default:
      return false;
  }
}

}  // namespace

UploadOptions Agent::uploadOptions(const Command& cmd, double rate_mb) {
  UploadOptions o;
  o.cancel = &stopping_;
  o.rate_bytes_per_second = rate_mb * 1e6;
  o.host_id = trust_.host_id;
  o.requested_by = cmd.requested_by;
  o.agent_version = kVersion;
  return o;
}

// What the receipt says of one stored item: "<evidence id>.<key>" details (`k` is the prefix).
void Agent::noteUpload(const UploadOutcome& up, const std::string& k, ActionOutcome& out) {
  out.details[k + "sha256"] = crypto::hex(up.sha256);
  out.details[k + "controller_sha256"] = crypto::hex(up.controller_sha256);
  out.details[k + "manifest_sha256"] = crypto::hex(up.manifest_sha256);
  out.details[k + "immutable"] = up.immutable ? "yes" : "no";
  out.details[k + "resumed_from"] = std::to_string(up.resumed_from);
}

// Image (or collect) actions upload one evidence item per source: "<command id>-<n>", n from 1
// in a fixed order (named devices, then the whole disks sorted), so a restarted agent resumes
// each item under the same id. The receipt names every item with "<evidence id>.<key>" details.
ActionOutcome Agent::imageDevice(const Command& cmd) {
  ActionOutcome out;
  std::vector<std::string> devices;
  bool all_disks = false;
  double rate_mb = 0;
  for (const auto& a : cmd.args) {
    if (a.rfind("device=", 0) == 0) devices.push_back(a.substr(7));
    if (a == "all_disks=yes") all_disks = true;
    if (a.rfind("rate=", 0) == 0) rate_mb = std::atof(a.c_str() + 5);
  }
  if (all_disks && parts_.list_disks) {
    auto disks = parts_.list_disks();
    if (!disks.ok()) {
      out.message = absl::StrFormat("listing the disks: %s", disks.status().message());
      return out;
    }
    for (const auto& d : *disks) {
      if (std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
    }
    if (disks->empty() && devices.empty()) {
      out.message =
          "--all-disks: this host has no whole disk (loop, ram and zram devices are "
          "imaged only when named)";
      out.details["error"] = "invalid-argument";
      return out;
    }
  }
  if (devices.empty() || !parts_.open_evidence) {
    out.message = devices.empty() ? "no device named" : "imaging is not available on this agent";
    out.details["error"] = "invalid-argument";
    return out;
  }
  if (devices.size() > 64) {
    out.message = absl::StrFormat("%d devices: one action images at most 64", devices.size());
    out.details["error"] = "invalid-argument";
    return out;
  }
  // Every source is opened first: a typo fails the action before anything is sent.
  std::vector<std::unique_ptr<EvidenceSource>> sources;
  for (const auto& device : devices) {
    auto source = parts_.open_evidence(device);
    if (!source.ok()) {
      out.message = std::string(source.status().message());
      if (source.status().code() == absl::StatusCode::kInvalidArgument ||
          source.status().code() == absl::StatusCode::kNotFound) {
        out.details["error"] = "invalid-argument";
      }
      return out;
    }
    sources.push_back(std::move(*source));
  }
  const UploadOptions options = uploadOptions(cmd, rate_mb);
  std::vector<std::string> ids, failures, unreadable;
  std::uint64_t total_bytes = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const std::string evidence_id = absl::StrFormat("%s-%d", cmd.id, i + 1);
    ids.push_back(evidence_id);
    const EvidenceSourceFacts& f = sources[i]->facts();
    const std::string k = evidence_id + ".";
    out.details[k + "device"] = f.resolved_path;
    out.details[k + "device_kind"] = f.kind;
    out.details[k + "size_bytes"] = std::to_string(f.size_bytes);
    out.details[k + "read_method"] = f.read_method;
    auto up = uploadWithRetry(*sources[i], cmd.id, evidence_id, cmd.expires_unix_ms, options);
    if (!up.ok()) {
      if (up.status().code() == absl::StatusCode::kCancelled) {
        out.details["cancelled"] = "yes";
        return out;
      }
      out.details[k + "error"] = std::string(up.status().message());
      failures.push_back(absl::StrFormat("%s: %s", devices[i], up.status().message()));
      continue;
    }
    noteUpload(*up, k, out);
    out.details[k + "read_errors"] = std::to_string(up->read_errors.size());
    std::uint64_t zeroed = 0;
    for (const auto& e : up->read_errors) zeroed += e.length;
    out.details[k + "zero_filled_bytes"] = std::to_string(zeroed);
    if (!up->read_errors.empty()) {
      unreadable.push_back(absl::StrFormat(
          "%s: %d unreadable range(s), %d bytes replaced by zeros (listed in the manifest)",
          devices[i], up->read_errors.size(), zeroed));
    }
    total_bytes += up->size;
  }
  out.details["evidence_ids"] = absl::StrJoin(ids, ",");
  if (!failures.empty()) {
    out.message = absl::StrFormat("imaging failed: %s", absl::StrJoin(failures, "; "));
    return out;
  }
  out.ok = true;
  out.message = sources.size() == 1
                    ? absl::StrFormat("imaged %s: %d bytes, sha256 %s", devices[0], total_bytes,
                                      out.details[ids[0] + ".sha256"])
                    : absl::StrFormat("imaged %d devices: %d bytes", sources.size(), total_bytes);
  if (!unreadable.empty()) absl::StrAppend(&out.message, "; ", absl::StrJoin(unreadable, "; "));
  return out;
}

std::string Agent::collectPath(const std::string& command_id) const {
  return options_.state_dir + "/collect/" + command_id + ".tar.zst";
}

// `warden collect`: the triage bundle (agent/os/triage.h) is written once to the state
// directory and uploaded like an image, as evidence "<command id>-1". It stays until the
// receipt is stored, so an agent restarted part way resumes the upload of the same bytes; a
// bundle whose writing was interrupted is thrown away and written again.
ActionOutcome Agent::collectTriage(const Command& cmd) {
  ActionOutcome out;
  if (!parts_.build_triage || !parts_.open_evidence) {
    out.message = "triage collection is not available on this agent";
    return out;
  }
  TriageOptions options;
  double rate_mb = 0;
  for (const auto& a : cmd.args) {
    const double v = std::atof(a.c_str() + a.find('=') + 1);
    if (a.rfind("rate=", 0) == 0) rate_mb = v;
    if (a.rfind("max_member_mb=", 0) == 0) options.limits.max_member_bytes = v * 1e6;
    if (a.rfind("max_total_mb=", 0) == 0) options.limits.max_total_bytes = v * 1e6;
  }
  const std::string path = collectPath(cmd.id);
  const std::string evidence_id = cmd.id + "-1";
  const std::string k = evidence_id + ".";
  out.details["evidence_ids"] = evidence_id;
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir + "/collect", ec);
  if (!std::filesystem::exists(path, ec)) {
    const std::string partial = path + ".partial";
    (void)std::remove(partial.c_str());
    auto built = parts_.build_triage(partial, options);
    if (!built.ok()) {
      out.message = absl::StrFormat("collecting: %s", built.status().message());
      return out;
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
      out.message = absl::StrFormat("collecting: renaming %s: %s", partial, std::strerror(errno));
      return out;
    }
    out.details[k + "members"] = std::to_string(built->members.size());
    out.details[k + "content_bytes"] = std::to_string(built->content_bytes);
    out.details[k + "limits_hit"] = std::to_string(built->limits_hit.size());
    if (!built->limits_hit.empty()) {
      std::string first = built->limits_hit.front();
      if (built->limits_hit.size() > 1) {
        first += absl::StrFormat(" (and %d more; see MANIFEST.json)", built->limits_hit.size() - 1);
      }
      out.details[k + "limit_first"] = first;
    }
    out.details[k + "triage_manifest_sha256"] = crypto::hex(crypto::sha256(built->manifest_json));
  }
  auto source = parts_.open_evidence(path);
  if (!source.ok()) {
    out.message = absl::StrFormat("opening the bundle: %s", source.status().message());
    return out;
  }
  out.details[k + "device"] = path;
  out.details[k + "device_kind"] = "triage bundle (tar+zstd)";
  out.details[k + "size_bytes"] = std::to_string((*source)->facts().size_bytes);
  auto up = uploadWithRetry(**source, cmd.id, evidence_id, cmd.expires_unix_ms,
                            uploadOptions(cmd, rate_mb));
  if (!up.ok()) {
    if (up.status().code() == absl::StatusCode::kCancelled) out.details["cancelled"] = "yes";
    out.message = absl::StrFormat("uploading the triage bundle: %s", up.status().message());
    return out;
  }
  out.ok = true;
  noteUpload(*up, k, out);
  auto members = out.details.find(k + "members");
  out.message =
      absl::StrFormat("collected a triage bundle%s: %d bytes, sha256 %s",
                      members == out.details.end() ? "" : " of " + members->second + " members",
                      up->size, crypto::hex(up->sha256));
  return out;
}

absl::StatusOr<UploadOutcome> Agent::uploadWithRetry(EvidenceSource& source,
                                                     const std::string& command_id,
                                                     const std::string& evidence_id,
                                                     std::int64_t expires_unix_ms,
                                                     const UploadOptions& options) {
  // Bounded by the action's own expiry (a busy controller may take hours to free a slot), with
  // a back-off up to 15 s between attempts.
  absl::Status last;
  for (int attempt = 0; nowUnixMs() < expires_unix_ms; ++attempt) {
    if (attempt > 0) {
      const auto pause = std::chrono::milliseconds(std::min(15000, 500 << std::min(attempt, 5)));
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, pause, [&] { return stopping_.load(); })) break;
    }
    auto channel = makeChannel(true);
    if (!channel.ok()) return channel.status();
    auto stub = v1::AgentChannel::NewStub(*channel);
    auto up = uploadEvidence(*stub, source, command_id, evidence_id, receipt_key_, options);
    if (up.ok() || !retryableUpload(up.status())) return up;
    last = up.status();
    logWarning("host %s: evidence %s: %s; trying again", trust_.host_id, evidence_id,
               last.message());
  }
  if (stopping_) return absl::CancelledError("the agent is stopping; the transfer resumes later");
  if (last.ok()) return absl::DeadlineExceededError("the action expired before the upload began");
  return absl::DeadlineExceededError(
      absl::StrFormat("the action expired before the upload completed: %s", last.message()));
}

ActionOutcome Agent::runHostAction(const Command& cmd) {
  if (!parts_.host) {
    ActionOutcome out;
    out.message = "host actions are not available on this agent";
    return out;
  }
  if (cmd.kind == "sessions") return parts_.host->listSessions();
  if (cmd.kind == "kill-sessions") return parts_.host->killSessions(cmd.args);
  if (cmd.kind == "lock-accounts") return parts_.host->lockAccounts(cmd.args);
  if (cmd.kind == "unlock-accounts") return parts_.host->unlockAccounts(cmd.args);
  if (cmd.kind == "shutdown") return parts_.host->shutdown(cmd.args);
  ActionOutcome out;
  out.message = absl::StrFormat("unknown action '%s'", cmd.kind);
  return out;
}

}  // namespace warden
