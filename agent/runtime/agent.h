// warden-agent's runtime: dials out to the controller, keeps one long-lived stream with
// jittered reconnects, verifies and executes commands one at a time, signs receipts, and
// watches netfilter so that its rules come back within a second if anyone removes them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/actions/containment.h"
#include "agent/actions/host_actions.h"
#include "agent/os/dhcp_leases.h"
#include "agent/os/evidence_source.h"
#include "agent/os/firewall.h"
#include "agent/os/triage.h"
#include "agent/runtime/command_verifier.h"
#include "agent/runtime/evidence_upload.h"
#include "agent/runtime/state_store.h"
#include "common/crypto/ed25519.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden {

inline constexpr char kAgentVersion[] = "0.1.0";

struct AgentOptions {
  std::string state_dir;
  absl::Duration rollback_window = absl::Seconds(10);
  absl::Duration heartbeat_interval = absl::Seconds(3);  // signed heartbeats (common/heartbeat.h)
  absl::Duration max_backoff = absl::Seconds(30);
  // Where the host's DHCP client keeps its leases (the servers isolation lets DHCP reach).
  std::vector<std::string> dhcp_lease_dirs = defaultDhcpLeaseDirs();
};

struct AgentParts {
  std::unique_ptr<Firewall> firewall;
  std::unique_ptr<ConnectionTracker> conntrack;
  std::unique_ptr<NetfilterWatch> watch;  // may be null: then the agent polls every second
  std::unique_ptr<HostActions> host;      // sessions, accounts, power
  // Opens a disk, partition or file for imaging (agent/os/evidence_source.h); null: no imaging.
  std::function<absl::StatusOr<std::unique_ptr<EvidenceSource>>(const std::string&)> open_evidence;
  // Whole disks for `image --all-disks` (agent/os/evidence_source.h); null: not available.
  std::function<absl::StatusOr<std::vector<std::string>>()> list_disks;
  // Writes the triage bundle of `warden collect` (agent/os/triage.h); null: not available.
  std::function<absl::StatusOr<TriageResult>(const std::string&, const TriageOptions&)>
      build_triage;
};

class AgentCertificate;  // cert_renewal.h

class Agent {
 public:
  static absl::StatusOr<std::unique_ptr<Agent>> create(const AgentOptions& options,
                                                       std::unique_ptr<StateStore> store,
                                                       AgentParts parts);
  ~Agent();
  // Re-applies persisted containment, then serves until stop().
  absl::Status run();
  void stop();

 private:
  using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>;

  Agent(AgentOptions options, std::unique_ptr<StateStore> store, AgentParts parts,
        crypto::Ed25519Key receipt_key);
  // Commands wait in one of two lanes, each with a worker of its own, so that a host action
  // that takes long (a kill of thousands, a lock waiting for /etc/.pwd.lock, reads a hostile
  // process makes slow) never holds an isolate, release or block behind it.
  enum Lane { kContainmentLane = 0, kHostLane = 1, kLanes = 2 };
  static Lane laneOf(const v1::SignedCommand& sc);

  absl::Status session();
  void commandWorker(Lane lane);
  void heartbeatLoop();
  void watchLoop();
  void handleCommand(const v1::SignedCommand& sc);
  bool probeController();
  bool send(const v1::AgentMessage& m);
  void sendEvent(const std::string& kind, const std::string& detail,
                 const std::string& command_id = "");
  // A release made at an isolation's deadline (Containment::peekTimedRelease): signed, kept in
  // the state store until the controller acknowledges it, and sent (now, at every connection
  // and every ~10 s until then). release_mu_ guards the kept list; never held while sending.
  void reportTimedRelease();
  void sendPendingRelease();
  // The controller acknowledged "release:<command id>".
  void releaseAcknowledged(const std::string& ack);
  v1::Facts facts();
  // Pins the address the stream completed TLS with (gRPC's peer string), drops expired pins.
  void pinController(const std::string& grpc_peer);
  // Signs and sends a receipt; `keep` stores it, so a re-delivered command gets it again.
  void reply(const Receipt& r, bool keep = true);
  // The controller channel's credentials and arguments (mutual TLS with the agent's key).
  absl::StatusOr<std::shared_ptr<grpc::Channel>> makeChannel(bool bulk);
  // `warden image`: streams the device to the controller's evidence store.
  ActionOutcome imageDevice(const Command& cmd);
  ActionOutcome collectTriage(const Command& cmd);
  UploadOptions uploadOptions(const Command& cmd, double rate_mb);
  static void noteUpload(const UploadOutcome& up, const std::string& k, ActionOutcome& out);
  std::string collectPath(const std::string& command_id) const;
  absl::StatusOr<UploadOutcome> uploadWithRetry(EvidenceSource& source,
                                                const std::string& command_id,
                                                const std::string& evidence_id,
                                                std::int64_t expires_unix_ms,
                                                const UploadOptions& options);
  bool waitForReceiptAck(const std::string& command_id, absl::Duration timeout);
  // isolate, release, block, unblock.
  ActionOutcome runContainment(const Command& cmd);
  ActionOutcome runHostAction(const Command& cmd);
  // What the host shows now, for the receipt of an interrupted command ("now_*" details).
  std::map<std::string, std::string> hostNow(bool containment);

  AgentOptions options_;
  std::unique_ptr<StateStore> store_;
  AgentParts parts_;
  crypto::Ed25519Key receipt_key_;
  std::unique_ptr<Containment> containment_;
  std::unique_ptr<AgentCertificate> certificate_;  // the TLS identity, renewed over the channel
  CommandTrust trust_;
  std::string controller_;
  std::uint16_t controller_port_ = 0;
  std::vector<IpPrefix> controller_addresses_;
  // Test only: WARDEN_FAULT_INJECT=exit-before-receipt:KIND makes the agent _exit(70) after
  // acting on a KIND command and before answering it, as a crash there would.
  std::string exit_before_receipt_;

  std::atomic<bool> stopping_{false};
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  Stream* stream_ = nullptr;
  grpc::ClientContext* ctx_ = nullptr;
  bool connected_ = false;
  std::deque<v1::SignedCommand> commands_[kLanes];
  std::deque<v1::AgentEvent> pending_events_;
  std::mutex release_mu_;
  std::string probe_nonce_;
  bool probe_acked_ = false;
  std::vector<std::string> acked_receipts_;  // command ids the controller acknowledged
  std::mutex write_mu_;
  std::uint64_t heartbeat_seq_ = 0;  // only heartbeatLoop (one at a time) touches it
  std::thread watch_thread_;
  // Images run on threads of their own: containment never waits behind a long transfer.
  std::mutex imaging_mu_;
  std::set<std::string> imaging_;  // command ids being imaged
  std::vector<std::thread> imaging_threads_;
};

}  // namespace warden
