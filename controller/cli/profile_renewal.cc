#include "controller/cli/profile_renewal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/audit/cert_renewal.h"
#include "common/cert_lifetime.h"
#include "common/cert_renewal_request.h"
#include "common/crypto/x509.h"
#include "common/json.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

std::string directoryOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

absl::Status fromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// The renewal itself, with the profile as it is on disk now (locked against other renewals).
absl::StatusOr<ProfileRenewal> renewLocked(Client& c, const OperatorProfile& p, unsigned mode) {
  WARDEN_ASSIGN_OR_RETURN(crypto::Ed25519Key signing,
                          crypto::Ed25519Key::fromPem(p.signing_key_pem));
  const std::string subject = "operator:" + p.name;
  v1::RenewalChallengeRequest creq;
  creq.set_subject(subject);
  v1::RenewalChallenge challenge;
  if (auto s =
          c.call(&v1::Operator::Stub::GetRenewalChallenge, creq, &challenge, absl::Seconds(15));
      !s.ok()) {
    return fromGrpc(s);
  }
  WARDEN_ASSIGN_OR_RETURN(
      RenewalRequestParts parts,
      makeRenewalRequest(subject, renewal_proof::kCertificate, challenge.challenge(), signing));
  v1::RenewCertificateRequest req;
  req.set_csr_pem(parts.csr_pem);
  req.set_renewal(parts.renewal);
  req.set_signature(parts.signature);
  v1::RenewCertificateResponse resp;
  if (auto s = c.call(&v1::Operator::Stub::RenewCertificate, req, &resp, absl::Seconds(15));
      !s.ok()) {
    return fromGrpc(s);
  }
  const std::string& cert = resp.certificate_pem();
  WARDEN_RETURN_IF_ERROR(crypto::verifyCertIssuedBy(cert, p.ca_pem));
  WARDEN_ASSIGN_OR_RETURN(std::string name, crypto::certCommonName(cert));
  if (name != subject) {
    return absl::PermissionDeniedError("the controller sent a certificate for someone else");
  }
  WARDEN_RETURN_IF_ERROR(crypto::certMatchesKey(cert, parts.key_pem));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity v, crypto::certValidity(cert));
  OperatorProfile renewed = p;
  renewed.key_pem = parts.key_pem;
  renewed.cert_pem = cert;
  // The controller keeps the old certificate good until the new one is used, so a profile that
  // could not be written here still works; the next call renews again.
  WARDEN_RETURN_IF_ERROR(saveProfile(c.profile_path, renewed, mode));
  WARDEN_ASSIGN_OR_RETURN(c, Client::connectWith(std::move(renewed), c.profile_path));
  return ProfileRenewal{v.not_after, resp.log_index()};
}

}  // namespace

absl::StatusOr<std::optional<ProfileRenewal>> renewProfile(Client& c, bool force) {
  // Every verb pays for this check: one certificate parsed (~80 us) unless a renewal is due.
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity v, crypto::certValidity(c.profile.cert_pem));
  const absl::Time now = absl::Now();
  if (!force && !renewalDue(v, now)) return std::nullopt;
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity ca, crypto::certValidity(c.profile.ca_pem));
  if (v.not_after <= now) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the operator certificate %s: an admin must give you a new profile",
                        describeExpiry(v.not_after, now)));
  }
  if (endsWithCa(v, ca)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the operator certificate %s, with the CA: renewing it cannot extend it",
                        describeExpiry(v.not_after, now)));
  }
  const std::string& path = c.profile_path;
  struct stat st = {};
  if (::stat(path.c_str(), &st) != 0) return errnoStatus("stat", path, errno);
  if (::access(path.c_str(), W_OK) != 0 || ::access(directoryOf(path).c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s (or its directory) is not writable, so a renewed certificate cannot be stored "
        "(the certificate %s)",
        path, describeExpiry(v.not_after, now)));
  }
  // One renewal of a profile at a time: another `warden` may be renewing it right now.
  const UniqueFd dir(::open(directoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) return errnoStatus("open", directoryOf(path), errno);
  while (::flock(dir.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return errnoStatus("lock", directoryOf(path), errno);
  }
  WARDEN_ASSIGN_OR_RETURN(OperatorProfile on_disk, loadProfile(path));
  if (on_disk.cert_pem != c.profile.cert_pem) {
    // Renewed by another process while this one waited for the lock: use what it stored.
    WARDEN_ASSIGN_OR_RETURN(c, Client::connectWith(std::move(on_disk), path));
    if (!force) return std::nullopt;
  }
  WARDEN_ASSIGN_OR_RETURN(ProfileRenewal r, renewLocked(c, c.profile, st.st_mode & 07777));
  return std::optional<ProfileRenewal>(r);
}

void renewProfileIfDue(Client& c) {
  auto r = renewProfile(c, false);
  if (!r.ok()) {
    printError(absl::StrFormat("note: could not renew the operator certificate of %s: %s",
                               c.profile_path, r.status().message()));
  } else if (r->has_value()) {
    printError(absl::StrFormat("note: renewed the operator certificate of %s (valid until %s)",
                               c.profile_path, utc((*r)->not_after)));
  }
}

int operatorRenew(const Globals& g) {
  auto c = Client::connect(g);
  if (!c.ok()) {
    printError(std::string(c.status().message()));
    return kExitBadInput;
  }
  auto r = renewProfile(*c, true);
  if (!r.ok()) return reportStatus(r.status());
  const ProfileRenewal done = r->value_or(ProfileRenewal{});
  if (g.json) {
    std::printf("%s\n", jsonLine(Json{{"operator", c->profile.name},
                                      {"profile", c->profile_path},
                                      {"not_after_unix_ms", absl::ToUnixMillis(done.not_after)},
                                      {"log_index", done.log_index}})
                            .c_str());
  } else {
    std::printf("operator %s: certificate renewed, valid until %s; %s rewritten\n",
                printable(c->profile.name).c_str(), utc(done.not_after).c_str(),
                printable(c->profile_path).c_str());
  }
  return kExitOk;
}

}  // namespace warden::cli
