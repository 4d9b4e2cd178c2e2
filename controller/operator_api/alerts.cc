// Automation's operator calls: AddAlertSource (admin), ApplyRules (admin, a signed request whose
// rules text goes into the log whole), ListAlerts and ShowRules (every role).
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

constexpr std::uint32_t kDefaultAlertsListed = 100;
constexpr std::uint32_t kMaxAlertsListed = 1000;

// The YAML an apply-rules request carries, checked for shape.
absl::StatusOr<std::string> rulesText(const Request& r) {
  if (r.kind != kApplyRulesKind) {
    return absl::InvalidArgumentError(
        absl::StrFormat("request kind '%s' is not %s", r.kind, kApplyRulesKind));
  }
  if (!r.hosts.empty() || r.all_hosts || !r.allow.empty() || !r.addresses.empty() ||
      r.args.size() != 1 || !r.args[0].starts_with("rules=")) {
    return absl::InvalidArgumentError("an apply-rules request carries exactly one rules= argument");
  }
  return r.args[0].substr(6);
}

}  // namespace

grpc::Status OperatorService::AddAlertSource(grpc::ServerContext* ctx,
                                             const v1::AddAlertSourceRequest* req,
                                             v1::AddAlertSourceResponse* resp) {
  auto op = authz_.authorize(ctx, "AddAlertSource");
  if (!op.ok()) return toGrpc(op.status());
  if (!validHostId(req->name())) {
    return toGrpc(absl::InvalidArgumentError(absl::StrFormat(
        "invalid source name '%s': letters, digits, '.', '-', '_', at most 63, starting with a "
        "letter or digit",
        req->name().substr(0, 80))));
  }
  auto rnd = crypto::randomBytes(32);
  if (!rnd.ok()) return toGrpc(rnd.status());
  const std::string token = "wds_" + crypto::base64url(*rnd);
  AlertSourceRecord s{req->name(), crypto::hex(crypto::sha256(token)), "", nowUnixMs(), op->name};
  if (!req->client_csr_pem().empty()) {
    crypto::CertProfile profile;
    profile.common_name = "alert-source:" + req->name();
    profile.client = true;
    profile.validity = ctx_.lifetimes.operator_cert;
    auto cert = crypto::signCsr(ctx_.keys.ca, req->client_csr_pem(), profile);
    if (!cert.ok()) return toGrpc(absl::InvalidArgumentError(cert.status().message()));
    auto fp = crypto::certFingerprint(*cert);
    if (!fp.ok()) return toGrpc(fp.status());
    s.cert_fingerprint = *fp;
    resp->set_client_cert_pem(*cert);
  }
  if (auto added = alert_store_.addSource(s); !added.ok()) return toGrpc(added);
  LogEntry e;
  e.type = entry_type::kEvent;
  e.actor = "operator:" + op->name;
  e.detail = absl::StrFormat(
      "alert source %s added%s", s.name,
      s.cert_fingerprint.empty() ? "" : " with client certificate " + s.cert_fingerprint);
  if (auto logged = ctx_.log->appendEntry(e); !logged.ok()) {
    logError("alert source %s: not logged: %s", s.name, logged.status().ToString());
  }
  resp->set_token(token);
  resp->set_ca_pem(ctx_.keys.ca.cert_pem);
  resp->set_intake_address(ctx_.keys.alerts_listen);
  return grpc::Status::OK;
}

grpc::Status OperatorService::ApplyRules(grpc::ServerContext* ctx, const v1::ApplyRulesRequest* req,
                                         v1::ApplyRulesResponse* resp) {
  auto op = authz_.authorize(ctx, "ApplyRules");
  if (!op.ok()) return toGrpc(op.status());
  const std::string actor = "operator:" + op->name;
  LogWriter& log = *ctx_.log;
  auto request = policy_.verifySignedRequest(*op, req->request(), req->request_signature());
  absl::StatusOr<std::string> yaml =
      request.ok() ? rulesText(*request) : absl::StatusOr<std::string>(request.status());
  absl::StatusOr<RuleSet> rules =
      yaml.ok() ? parseRules(*yaml) : absl::StatusOr<RuleSet>(yaml.status());
  if (!rules.ok()) {
    log.logRefusal(actor, "", "",
                   absl::StrFormat("rules refused, nothing applied: %s",
                                   std::string(rules.status().message()).substr(0, 1024)));
    return toGrpc(rules.status());
  }
  std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
  if (auto still = authz_.stillAuthorized(*op, "ApplyRules"); !still.ok()) {
    log.logRefusal(actor, "", request->id,
                   absl::StrFormat("request %s refused: %s", request->id, still.message()));
    return toGrpc(still);
  }
  auto index = logSignedRequest(*op, *request, req->request(), req->request_signature(), "");
  if (!index.ok()) return toGrpc(index.status());
  RulesVersionRecord v{request->id, *yaml, op->name, nowUnixMs(), *index};
  if (auto stored = alert_store_.addRulesVersion(v); !stored.ok()) return toGrpc(stored);
  const std::size_t count = rules->rules.size();
  automation_.useRules(request->id, std::make_shared<const RuleSet>(std::move(*rules)));
  logInfo("operator %s applied rules version %s (%d rules, log entry %d)", op->name, request->id,
          count, *index);
  resp->set_version(request->id);
  resp->set_log_index(*index);
  resp->set_rules(static_cast<std::uint32_t>(count));
  return grpc::Status::OK;
}

grpc::Status OperatorService::ShowRules(grpc::ServerContext* ctx, const v1::ShowRulesRequest*,
                                        v1::ShowRulesResponse* resp) {
  auto op = authz_.authorize(ctx, "ShowRules");
  if (!op.ok()) return toGrpc(op.status());
  auto current = alert_store_.currentRules();
  if (absl::IsNotFound(current.status())) return grpc::Status::OK;
  if (!current.ok()) return toGrpc(current.status());
  resp->set_version(current->version);
  resp->set_yaml(current->yaml);
  resp->set_applied_by(current->applied_by);
  resp->set_applied_unix_ms(current->applied_ms);
  resp->set_log_index(current->log_index);
  return grpc::Status::OK;
}

v1::AlertView OperatorService::alertView(const AlertDecisionRecord& r) {
  v1::AlertView v;
  v.set_id(r.alert_id);
  v.set_source(r.source);
  v.set_format(r.format);
  v.set_status(r.status);
  v.set_received_unix_ms(r.received_ms);
  Json labels = Json::parse(r.labels_json, nullptr, false);
  if (labels.is_object()) {
    for (const auto& [k, value] : labels.items()) {
      if (value.is_string()) (*v.mutable_labels())[k] = value.get<std::string>();
    }
  }
  v.set_decision_id(r.decision_id);
  v.set_outcome(r.outcome);
  v.set_reason(r.reason);
  v.set_rule(r.rule);
  v.set_rules_version(r.rules_version);
  v.set_host(r.host);
  v.set_action(r.action);
  v.set_action_id(r.action_id);
  v.set_why(r.why);
  v.set_alert_log_index(r.alert_log_index);
  v.set_decision_log_index(r.decision_log_index);
  v.set_approval(r.approval);
  v.set_approval_by(r.approval_by);
  if (!r.action_id.empty()) {
    if (auto a = ctx_.registry().findAction(r.action_id); a.ok()) v.set_action_state(a->state);
  }
  return v;
}

grpc::Status OperatorService::ListAlerts(grpc::ServerContext* ctx, const v1::ListAlertsRequest* req,
                                         v1::ListAlertsResponse* resp) {
  auto op = authz_.authorize(ctx, "ListAlerts");
  if (!op.ok()) return toGrpc(op.status());
  const std::uint32_t limit =
      req->limit() == 0 ? kDefaultAlertsListed : std::min(req->limit(), kMaxAlertsListed);
  auto rows = alert_store_.listAlerts(static_cast<int>(limit), 0);
  if (!rows.ok()) return toGrpc(rows.status());
  for (const auto& r : *rows) *resp->add_alerts() = alertView(r);
  return grpc::Status::OK;
}

}  // namespace warden
