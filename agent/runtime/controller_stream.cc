// The controller stream: mutual-TLS channels, the long-lived Connect stream (hello, events
// queued while disconnected, incoming commands and acknowledgements), heartbeats with the
// host's facts, and the probe that proves the controller is still reachable.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/os/host_facts.h"
#include "agent/runtime/agent.h"
#include "agent/runtime/cert_renewal.h"
#include "agent/runtime/controller_pins.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/heartbeat.h"
#include "common/log.h"
#include "common/net.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::size_t kMaxPendingEvents = 256;
constexpr std::size_t kMaxQueuedCommands = 1024;

}  // namespace

void Agent::pinController(const std::string& grpc_peer) {
  ControllerPins pins = ControllerPins::decode(store_->getOr("controller_addresses", ""));
  pins.expire(absl::Now());
  if (auto peer = addressOfGrpcPeer(grpc_peer)) {
    pins.confirm(*peer, absl::Now());
  } else {
    logWarning("host %s: controller peer %s has no IP address to pin", trust_.host_id,
               absl::CHexEscape(grpc_peer));
  }
  (void)store_->set("controller_addresses", pins.encode());
  controller_addresses_ = pins.addresses();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Agent::makeChannel(bool bulk) {
  // Read as one pair under the renewal's lock (cert_renewal.h): the current certificate.
  WARDEN_ASSIGN_OR_RETURN(AgentCertificate::Identity id, certificate_->identity());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = std::move(id.ca_pem);
  ssl.pem_private_key = std::move(id.key_pem);
  ssl.pem_cert_chain = std::move(id.cert_pem);
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
  std::thread workers[kLanes], heartbeat;
  if (ok) {
    // The hello went out over mutual TLS: this peer is the controller. Pinned before the
    // command worker starts, which reads the pins.
    pinController(ctx.peer());
    logInfo("host %s: connected to controller %s", trust_.host_id, controller_);
    for (int lane = 0; lane < kLanes; ++lane) {
      workers[lane] = std::thread([this, lane] { commandWorker(static_cast<Lane>(lane)); });
    }
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
    sendPendingRelease();
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      const Lane lane = msg.has_command() ? laneOf(msg.command()) : kContainmentLane;
      std::lock_guard<std::mutex> lock(mu_);
      if (msg.has_command()) {
        if (commands_[lane].size() < kMaxQueuedCommands) commands_[lane].push_back(msg.command());
      } else if (msg.has_probe_ack() && msg.probe_ack().nonce() == probe_nonce_) {
        probe_acked_ = true;
      } else if (msg.has_receipt_ack() && msg.receipt_ack().command_id().starts_with("release:")) {
        releaseAcknowledged(msg.receipt_ack().command_id());
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
  for (std::thread& w : workers) {
    if (w.joinable()) w.join();
  }
  if (heartbeat.joinable()) heartbeat.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = nullptr;
    ctx_ = nullptr;
    for (auto& queue : commands_) queue.clear();
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
  f.set_agent_version(kAgentVersion);
  const ContainmentState c = containment_->current();
  f.set_isolated(c.isolation.has_value());
  f.set_blocked_count(static_cast<std::uint32_t>(c.blocked.size()));
  return f;
}

void Agent::heartbeatLoop() {
  // The controller holds the agent to the interval it announces, within bounds.
  const std::int64_t interval_ms =
      std::clamp<std::int64_t>(absl::ToInt64Milliseconds(options_.heartbeat_interval),
                               static_cast<std::int64_t>(kMinHeartbeatIntervalMs),
                               static_cast<std::int64_t>(kMaxHeartbeatIntervalMs));
  for (bool first = true;; first = false) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // The first one right away: the controller judges a fresh connection at once.
      cv_.wait_for(lock, std::chrono::milliseconds(first ? 0 : interval_ms),
                   [this] { return !connected_ || stopping_; });
      if (!connected_ || stopping_) return;
    }
    v1::AgentMessage m;
    auto* hb = m.mutable_heartbeat();
    HeartbeatRecord r;
    r.host_id = trust_.host_id;
    r.seq = ++heartbeat_seq_;
    r.sent_unix_ms = nowUnixMs();
    r.interval_ms = static_cast<std::uint64_t>(interval_ms);
    if (auto digest = containment_->installedDigest(); digest.ok()) {
      r.ruleset_sha256 = *digest;
    } else {
      r.ruleset_error = std::string(digest.status().message()).substr(0, 256);
    }
    auto sig = signHeartbeat(r, receipt_key_);
    if (!sig.ok()) {
      logError("host %s: cannot sign heartbeat: %s", trust_.host_id, sig.status().message());
      continue;
    }
    hb->set_sent_unix_ms(r.sent_unix_ms);
    *hb->mutable_facts() = facts();
    hb->set_signed_heartbeat(std::move(sig->bytes));
    hb->set_signature(std::move(sig->signature));
    send(m);
  }
}

bool Agent::probeController() {
  // A probe the controller dropped (its per-stream rate limit) or an answer that got lost must
  // not roll back an isolation: a new probe goes out each second until the window ends.
  const absl::Time end = absl::Now() + options_.rollback_window;
  for (;;) {
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
    const absl::Duration wait = std::min(absl::Seconds(1), end - absl::Now());
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(
        lock, std::chrono::milliseconds(std::max<std::int64_t>(0, absl::ToInt64Milliseconds(wait))),
        [this] { return probe_acked_ || !connected_ || stopping_; });
    if (probe_acked_) return true;
    if (!connected_ || stopping_ || absl::Now() >= end) return false;
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

}  // namespace warden
