#include "controller/alerts/alert_intake.h"

#include "absl/strings/str_format.h"
#include "common/alerts/alertmanager_payload.h"
#include "common/alerts/falco_payload.h"
#include "common/alerts/json_payload.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/log.h"

namespace warden {
namespace {

IntakeAnswer error(unsigned status, const std::string& what) {
  Json j;
  j["error"] = what;
  return IntakeAnswer{status, dumpJson(j), 0};
}

absl::StatusOr<AlertBatch> parseBody(AlertFormat format, const std::string& body) {
  switch (format) {
    case AlertFormat::kAlertmanager:
      return parseAlertmanagerPayload(body);
    case AlertFormat::kFalco:
      return parseFalcoPayload(body);
    case AlertFormat::kJson:
      return parseJsonAlerts(body, nowUnixMs());
  }
  return absl::InvalidArgumentError("unknown format");
}

}  // namespace

IntakeAnswer AlertIntake::receive(const IntakeRequest& req) {
  // Who: a token (bearer, or the basic-auth password), else a client certificate.
  const std::string& token = !req.bearer_token.empty() ? req.bearer_token : req.basic_password;
  absl::StatusOr<AlertSourceRecord> source = absl::UnauthenticatedError("no credential");
  if (!token.empty()) {
    source = store_.sourceByToken(crypto::hex(crypto::sha256(token)));
  } else if (!req.client_cert_sha256.empty()) {
    source = store_.sourceByCertificate(req.client_cert_sha256);
  }
  if (!source.ok()) {
    const bool store_failed =
        !absl::IsNotFound(source.status()) && !absl::IsUnauthenticated(source.status());
    if (store_failed) {
      logError("alert intake: the source store failed: %s", source.status().ToString());
      IntakeAnswer a = error(503, "the controller cannot check credentials now; retry");
      a.retry_after_s = 5;
      return a;
    }
    const char* what = token.empty() && req.client_cert_sha256.empty()
                           ? "no credential (Authorization: Bearer TOKEN, or a client certificate "
                             "issued by 'warden alerts source add')"
                           : "the credential names no alert source";
    refused(401, "from " + req.peer_address, what);
    return error(401, what);
  }
  if (!withinRate(source->name)) {
    refused(429, "source " + source->name, "past its rate");
    IntakeAnswer a = error(429, "too many requests from this source; slow down");
    a.retry_after_s = 1;
    return a;
  }
  auto batch = parseBody(req.format, req.body);
  if (!batch.ok()) {
    const std::string what = absl::StrFormat("%s body does not parse: %s",
                                             alertFormatName(req.format), batch.status().message());
    refused(400, "source " + source->name, what);
    return error(400, what);
  }
  const std::string sha = crypto::hex(crypto::sha256(req.body));
  auto outcomes = automation_.receive(source->name, *batch, sha);
  if (!outcomes.ok()) {
    logError("alert intake: %s's alerts not recorded: %s", source->name,
             outcomes.status().ToString());
    IntakeAnswer a = error(503, "the alerts could not be recorded durably; retry");
    a.retry_after_s = 5;
    return a;
  }
  Json j;
  j["status"] = "ok";
  j["alerts"] = Json::array();
  for (const auto& o : *outcomes) {
    Json one;
    one["id"] = o.alert_id;
    one["decision"] = o.outcome;
    one["reason"] = o.reason;
    if (!o.host.empty()) one["host"] = o.host;
    if (!o.action_id.empty()) one["action"] = o.action_id;
    j["alerts"].push_back(std::move(one));
  }
  return IntakeAnswer{200, dumpJson(j), 0};
}

bool AlertIntake::withinRate(const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  auto [it, fresh] = buckets_.try_emplace(source);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = rate_.burst;
  } else {
    const double seconds = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(rate_.burst, b.tokens + seconds * rate_.per_second);
  }
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void AlertIntake::refused(unsigned status, const std::string& who, const std::string& what) {
  std::uint64_t before = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_logged_ < std::chrono::seconds(1)) {
      ++refusals_not_logged_;
      return;
    }
    last_refusal_logged_ = now;
    before = refusals_not_logged_;
    refusals_not_logged_ = 0;
  }
  std::string detail = absl::StrFormat("alert intake refused a request %s (%d): %s",
                                       who.substr(0, kMaxUntrustedText), status,
                                       what.substr(0, 2 * kMaxUntrustedText));
  if (before > 0) {
    detail += absl::StrFormat(" (and %d refusals before it, not logged one by one)", before);
  }
  logWarning("%s", detail);
  log_.logRefusal("controller", "", "", detail);
}

}  // namespace warden
