// What the controller's services share: its keys and registry, the action log's writer, the
// evidence store, the connected agents, the identity lock and the test-only fault hooks. Made
// once by ControllerServer::start (server.cc) and handed to every service by reference; it
// outlives them all.
#pragma once

#include <cstddef>
#include <memory>
#include <shared_mutex>

#include "common/receipt_bounds.h"
#include "controller/agent_channel/agent_session.h"
#include "controller/alerts/notifier.h"
#include "controller/data_dir.h"
#include "controller/evidence/store.h"
#include "controller/health/host_health.h"
#include "controller/log_writer.h"
#include "controller/renewal/lifetimes.h"
#include "controller/renewal/server_certificate.h"
#include "controller/testing/fault_injection.h"

namespace warden {

// The largest gRPC message either side sends or receives.
inline constexpr int kMaxMessageBytes = 4 << 20;
// A log entry holds at most one whole agent message (a receipt) plus its envelope.
inline constexpr std::size_t kMaxLogEntryBytes = kMaxMessageBytes + (64 << 10);
// A bounded receipt (common/receipt_bounds.h), signed and wrapped in its AgentMessage, always
// gets through: the receipt intake refuses larger ones itself, with a logged bad-receipt event,
// rather than gRPC ending the agent's stream.
static_assert(kMaxReceiptBytes + (64 << 10) <= static_cast<std::size_t>(kMaxMessageBytes));

struct ControllerContext {
  explicit ControllerContext(ControllerKeys k)
      : keys(std::move(k)), faults(FaultInjection::fromEnvironment()) {}

  Registry& registry() { return *keys.registry; }

  ControllerKeys keys;
  const FaultInjection faults;
  // How long the certificates it issues are valid (serve --*-cert-validity).
  CertificateLifetimes lifetimes;
  // The certificate the TLS port serves, which the controller renews itself.
  std::unique_ptr<ServerCertificate> server_certificate;
  std::unique_ptr<LogWriter> log;
  std::unique_ptr<EvidenceStore> evidence;
  AgentSessions sessions;
  // Each host's health as its heartbeats and receipts say (agent_channel/heartbeat_intake.h).
  HostHealthBook health;
  // Signed webhooks to the rules' notify URLs (automated actions, approvals, health); never on
  // the containment path.
  std::unique_ptr<Notifier> notifier;
  // Who may act, and with which key, as the log and the registry both say. Exclusive for
  // enrollments and operator changes (and fleet-wide requests, see Submit); shared while a
  // request or receipt is checked against a key and logged, so neither can be logged under a
  // key an enrollment or revocation replaced in the meantime.
  std::shared_mutex identity_mu;
};

}  // namespace warden
