// The operator API (proto/warden/v1/operator.proto), one file per verb group, each a thin
// adapter: check the caller (authz.h), hand over to the policy code, answer.
//   tokens.cc       CreateToken
//   hosts.cc        ListHosts, SetLabels
//   containment.cc  Submit (every action on hosts goes through it)
//   actions.cc      ListActions, GetAction, ListBlocks
//   operators.cc    AddOperator, RevokeOperator
//   audit_log.cc    ReadLog, GetCheckpoint, ProveEntry
//   evidence.cc     ListEvidence, ShowEvidence, GetEvidence, VerifyEvidence
//   renewal.cc      GetRenewalChallenge, RenewCertificate (the caller's own certificate)
//   alerts.cc       AddAlertSource, ApplyRules, ShowRules, ListAlerts (automation)
//   approvals.cc    ListApprovals, SettleApproval, SetBreaker, GetBreaker
//   incidents.cc    ChangeIncident, ListIncidents, GetIncident
#pragma once

#include <initializer_list>
#include <map>
#include <mutex>
#include <string>

#include "controller/alerts/alert_store.h"
#include "controller/alerts/automation.h"
#include "controller/authz.h"
#include "controller/context.h"
#include "controller/dispatch/dispatcher.h"
#include "controller/dispatch/request_policy.h"
#include "controller/renewal/certificate_issuer.h"
#include "warden/v1/operator.grpc.pb.h"

namespace warden {

class OperatorService final : public v1::Operator::Service {
 public:
  OperatorService(ControllerContext& ctx, Authorizer& authz, RequestPolicy& policy,
                  Dispatcher& dispatcher, CertificateIssuer& issuer, AlertStore& alert_store,
                  Automation& automation)
      : ctx_(ctx),
        authz_(authz),
        policy_(policy),
        dispatcher_(dispatcher),
        issuer_(issuer),
        alert_store_(alert_store),
        automation_(automation) {}

  grpc::Status CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                           v1::CreateTokenResponse* resp) override;
  grpc::Status ListHosts(grpc::ServerContext* ctx, const v1::ListHostsRequest* req,
                         v1::ListHostsResponse* resp) override;
  grpc::Status Submit(grpc::ServerContext* ctx, const v1::SubmitRequest* req,
                      v1::SubmitResponse* resp) override;
  grpc::Status ListActions(grpc::ServerContext* ctx, const v1::ListActionsRequest* req,
                           v1::ListActionsResponse* resp) override;
  grpc::Status GetAction(grpc::ServerContext* ctx, const v1::GetActionRequest* req,
                         v1::Action* resp) override;
  grpc::Status ListBlocks(grpc::ServerContext* ctx, const v1::ListBlocksRequest* req,
                          v1::ListBlocksResponse* resp) override;
  grpc::Status AddOperator(grpc::ServerContext* ctx, const v1::AddOperatorRequest* req,
                           v1::AddOperatorResponse* resp) override;
  grpc::Status RevokeOperator(grpc::ServerContext* ctx, const v1::RevokeOperatorRequest* req,
                              v1::RevokeOperatorResponse* resp) override;
  grpc::Status ReadLog(grpc::ServerContext* ctx, const v1::ReadLogRequest* req,
                       v1::ReadLogResponse* resp) override;
  grpc::Status GetCheckpoint(grpc::ServerContext* ctx, const v1::GetCheckpointRequest* req,
                             v1::GetCheckpointResponse* resp) override;
  grpc::Status ProveEntry(grpc::ServerContext* ctx, const v1::ProveEntryRequest* req,
                          v1::ProveEntryResponse* resp) override;
  grpc::Status ListEvidence(grpc::ServerContext* ctx, const v1::ListEvidenceRequest* req,
                            v1::ListEvidenceResponse* resp) override;
  grpc::Status ShowEvidence(grpc::ServerContext* ctx, const v1::ShowEvidenceRequest* req,
                            v1::ShowEvidenceResponse* resp) override;
  grpc::Status GetEvidence(grpc::ServerContext* ctx, const v1::ShowEvidenceRequest* req,
                           grpc::ServerWriter<v1::EvidenceData>* writer) override;
  grpc::Status VerifyEvidence(grpc::ServerContext* ctx, const v1::ShowEvidenceRequest* req,
                              v1::VerifyEvidenceResponse* resp) override;
  grpc::Status GetRenewalChallenge(grpc::ServerContext* ctx, const v1::RenewalChallengeRequest* req,
                                   v1::RenewalChallenge* resp) override;
  grpc::Status RenewCertificate(grpc::ServerContext* ctx, const v1::RenewCertificateRequest* req,
                                v1::RenewCertificateResponse* resp) override;
  grpc::Status AddAlertSource(grpc::ServerContext* ctx, const v1::AddAlertSourceRequest* req,
                              v1::AddAlertSourceResponse* resp) override;
  grpc::Status ApplyRules(grpc::ServerContext* ctx, const v1::ApplyRulesRequest* req,
                          v1::ApplyRulesResponse* resp) override;
  grpc::Status ShowRules(grpc::ServerContext* ctx, const v1::ShowRulesRequest* req,
                         v1::ShowRulesResponse* resp) override;
  grpc::Status ListAlerts(grpc::ServerContext* ctx, const v1::ListAlertsRequest* req,
                          v1::ListAlertsResponse* resp) override;
  grpc::Status ListApprovals(grpc::ServerContext* ctx, const v1::ListApprovalsRequest* req,
                             v1::ListApprovalsResponse* resp) override;
  grpc::Status SettleApproval(grpc::ServerContext* ctx, const v1::SettleApprovalRequest* req,
                              v1::SubmitResponse* resp) override;
  grpc::Status SetBreaker(grpc::ServerContext* ctx, const v1::SetBreakerRequest* req,
                          v1::BreakerState* resp) override;
  grpc::Status GetBreaker(grpc::ServerContext* ctx, const v1::GetBreakerRequest* req,
                          v1::BreakerState* resp) override;
  grpc::Status SetLabels(grpc::ServerContext* ctx, const v1::SetLabelsRequest* req,
                         v1::SetLabelsResponse* resp) override;
  grpc::Status ChangeIncident(grpc::ServerContext* ctx, const v1::ChangeIncidentRequest* req,
                              v1::IncidentView* resp) override;
  grpc::Status ListIncidents(grpc::ServerContext* ctx, const v1::ListIncidentsRequest* req,
                             v1::ListIncidentsResponse* resp) override;
  grpc::Status GetIncident(grpc::ServerContext* ctx, const v1::GetIncidentRequest* req,
                           v1::IncidentView* resp) override;

 private:
  // An action as operators see it (actions.cc).
  static v1::Action actionView(const ActionRecord& a);
  // A host as operators see it: the registry's record, its session, health and latest events
  // (hosts.cc).
  v1::Host hostView(const HostRecord& h, absl::Time now);
  // containment.cc: refused before dispatch, a plan that needs its host connected now and whose
  // host is not (DispatchPlan::needs_connected_host).
  absl::Status refuseOffline(const DispatchPlan& plan) const;
  // Fills `resp` with the actions `ids`, once every one is finished or after `wait_ms` (or when
  // the caller gives up).
  absl::Status waitForActions(grpc::ServerContext* ctx, const std::vector<std::string>& ids,
                              std::uint32_t wait_ms, v1::SubmitResponse* resp);
  // alerts.cc: an alert and its decision as operators see it.
  v1::AlertView alertView(const AlertDecisionRecord& r);
  // approvals.cc: an operator's signed request about automation (approve, reject, breaker),
  // verified and of one of `kinds`; refused (and the refusal logged) otherwise.
  // The operator's verified request, logged as its REQUEST entry (Unavailable if the log
  // refuses it): the log index.
  absl::StatusOr<std::uint64_t> logSignedRequest(const OperatorRecord& op, const Request& request,
                                                 const std::string& bytes,
                                                 const std::string& signature,
                                                 const std::string& host_id);
  absl::StatusOr<Request> automationRequest(const OperatorRecord& op, const std::string& bytes,
                                            const std::string& signature,
                                            std::initializer_list<const char*> kinds);
  // operators.cc
  // `s`, logged as a refusal of `change` ("adding", "revoking") of operator `name` if it is one.
  absl::Status refusalLogged(const OperatorRecord& by, const char* change, const std::string& name,
                             absl::Status s);
  absl::Status addOperator(const OperatorRecord& op, const v1::AddOperatorRequest& req,
                           v1::AddOperatorResponse* resp);
  absl::Status revokeOperator(const OperatorRecord& by, const v1::RevokeOperatorRequest& req);
  // incidents.cc: an incident change checked against the incidents there are, logged and
  // applied.
  absl::Status changeIncident(const OperatorRecord& op, const v1::ChangeIncidentRequest& req,
                              v1::IncidentView* resp);
  // evidence.cc
  v1::EvidenceItem evidenceItem(const StoredEvidence& e,
                                const std::map<std::string, TransferProgress>& progress);
  absl::StatusOr<v1::EvidenceItem> findEvidence(const std::string& id);

  ControllerContext& ctx_;
  Authorizer& authz_;
  RequestPolicy& policy_;
  Dispatcher& dispatcher_;
  CertificateIssuer& issuer_;
  AlertStore& alert_store_;
  Automation& automation_;
  // Incident changes one at a time: a codename is checked free and the request logged before
  // anyone else's change is checked (the log never holds two opens of one codename).
  std::mutex incidents_mu_;
};

}  // namespace warden
