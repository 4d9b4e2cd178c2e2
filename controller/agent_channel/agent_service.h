// The agent channel (proto/warden/v1/agent.proto): enrollment with a join token
// (enrollment.cc), the long-lived stream each agent keeps open (agent_stream.cc), certificate
// renewal (renewal.cc, over renewal/certificate_issuer.h), and the evidence uploads, which
// evidence/upload_intake.h takes in.
#pragma once

#include "controller/agent_channel/heartbeat_intake.h"
#include "controller/agent_channel/receipt_intake.h"
#include "controller/context.h"
#include "controller/dispatch/dispatcher.h"
#include "controller/evidence/upload_intake.h"
#include "controller/renewal/certificate_issuer.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden {

class AgentChannelService final : public v1::AgentChannel::Service {
 public:
  AgentChannelService(ControllerContext& ctx, Dispatcher& dispatcher, ReceiptIntake& receipts,
                      HeartbeatIntake& heartbeats, EvidenceIntake& evidence,
                      CertificateIssuer& issuer)
      : ctx_(ctx),
        dispatcher_(dispatcher),
        receipts_(receipts),
        heartbeats_(heartbeats),
        evidence_(evidence),
        issuer_(issuer) {}

  grpc::Status Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                      v1::EnrollResponse* resp) override;
  grpc::Status Connect(grpc::ServerContext* ctx, AgentStream* stream) override;
  grpc::Status GetUploadState(grpc::ServerContext* ctx, const v1::UploadRef* req,
                              v1::UploadState* resp) override {
    return evidence_.uploadState(ctx, *req, resp);
  }
  grpc::Status UploadEvidence(grpc::ServerContext* ctx,
                              grpc::ServerReader<v1::EvidenceChunk>* reader,
                              v1::UploadResult* result) override {
    return evidence_.upload(ctx, reader, result);
  }
  grpc::Status GetRenewalChallenge(grpc::ServerContext* ctx, const v1::RenewalChallengeRequest* req,
                                   v1::RenewalChallenge* resp) override;
  grpc::Status RenewCertificate(grpc::ServerContext* ctx, const v1::RenewCertificateRequest* req,
                                v1::RenewCertificateResponse* resp) override;

 private:
  absl::Status enroll(const v1::EnrollRequest& req, v1::EnrollResponse* resp);

  ControllerContext& ctx_;
  Dispatcher& dispatcher_;
  ReceiptIntake& receipts_;
  HeartbeatIntake& heartbeats_;
  EvidenceIntake& evidence_;
  CertificateIssuer& issuer_;
};

}  // namespace warden
