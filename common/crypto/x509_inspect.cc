// Reading certificates back: fingerprints, names, issuers and PEM bundles.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/openssl.h"
#include "common/crypto/x509.h"

namespace warden::crypto {

absl::StatusOr<std::string> certFingerprint(std::string_view cert_pem) {
  ERR_clear_error();
  auto cert = parseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert->get(), EVP_sha256(), md, &len) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to hash certificate");
  }
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

absl::StatusOr<std::string> certCommonName(std::string_view cert_pem) {
  ERR_clear_error();
  auto cert = parseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  X509_NAME* subject = X509_get_subject_name(cert->get());
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return absl::NotFoundError("Certificate subject has no common name");
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return sslError(absl::StatusCode::kInvalidArgument, "Failed to decode common name");
  OpensslStringPtr owned(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
}

absl::StatusOr<std::string> csrCommonName(std::string_view csr_pem) {
  ERR_clear_error();
  auto bio = readBio(csr_pem);
  if (!bio.ok()) return bio.status();
  ReqPtr req(PEM_read_bio_X509_REQ(bio->get(), nullptr, noPassphrase, nullptr));
  if (!req) return sslError(absl::StatusCode::kInvalidArgument, "Failed to parse CSR");
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return absl::InvalidArgumentError("CSR subject has no common name");
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
  if (len < 0) return sslError(absl::StatusCode::kInvalidArgument, "Failed to decode CSR name");
  OpensslStringPtr owned(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
}

absl::Status certMatchesKey(std::string_view cert_pem, std::string_view key_pem) {
  ERR_clear_error();
  auto cert = parseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  auto key = parsePrivateKey(key_pem);
  if (!key.ok()) return key.status();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key is not the certificate's");
  }
  return absl::OkStatus();
}

absl::StatusOr<CertValidity> certValidity(std::string_view cert_pem) {
  ERR_clear_error();
  auto cert = parseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  auto not_before = asn1TimeToAbsl(X509_get0_notBefore(cert->get()));
  if (!not_before.ok()) return not_before.status();
  auto not_after = asn1TimeToAbsl(X509_get0_notAfter(cert->get()));
  if (!not_after.ok()) return not_after.status();
  return CertValidity{*not_before, *not_after};
}

absl::Status verifyCertIssuedBy(std::string_view cert_pem, std::string_view ca_pem) {
  ERR_clear_error();
  auto cert = parseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  auto ca = parseCert(ca_pem);
  if (!ca.ok()) return ca.status();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to set up certificate store");
  }
  // The given CA is the sole trust anchor even if it is not self-signed.
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to set up certificate verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::PermissionDeniedError(absl::StrFormat(
        "Certificate does not verify against the CA: %s", X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> splitPemCertificates(std::string_view bundle) {
  ERR_clear_error();
  auto bio = readBio(bundle);
  if (!bio.ok()) return bio.status();
  std::vector<std::string> out;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, noPassphrase, nullptr));
    if (!cert) {
      // Running out of PEM blocks is the normal end; anything else is a broken certificate.
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      return sslError(absl::StatusCode::kInvalidArgument,
                      absl::StrFormat("Failed to parse certificate %d in bundle", out.size() + 1));
    }
    auto pem = certToPem(cert.get());
    if (!pem.ok()) return pem.status();
    out.push_back(*std::move(pem));
  }
  if (out.empty()) return absl::InvalidArgumentError("No certificates found in PEM bundle");
  return out;
}

}  // namespace warden::crypto
