// Issuing: the CA certificate and the leaf certificates it signs.
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/crypto/openssl.h"
#include "common/crypto/x509.h"

namespace warden::crypto {
namespace {

absl::Status setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  BnPtr bn(BN_new());
  if (!bn) return sslError(absl::StatusCode::kInternal, "Failed to allocate serial");
  do {
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      return sslError(absl::StatusCode::kInternal, "Failed to generate serial");
    }
    if (BN_bin2bn(bytes, sizeof bytes, bn.get()) == nullptr) {
      return sslError(absl::StatusCode::kInternal, "Failed to generate serial");
    }
  } while (BN_is_zero(bn.get()));  // RFC 5280 wants a positive serial.
  if (BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return sslError(absl::StatusCode::kInternal, "Failed to set serial");
  }
  return absl::OkStatus();
}

// `cap`: the latest notAfter allowed (the issuing CA's own), or 0 for none.
absl::Status setValidity(X509* cert, absl::Duration validity, std::time_t cap = 0) {
  if (validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Certificate validity must be positive");
  }
  // Back-dated so that a peer whose clock is a little behind still accepts a fresh certificate:
  // five minutes, or a tenth of a short validity, so that the share of a certificate's lifetime
  // that lies in the past (which renewal decisions count) stays small.
  absl::Time now = absl::Now();
  // RFC 5280 4.1.2.5: 99991231235959Z means "no well-defined expiration"; nothing later encodes.
  constexpr std::time_t kMaxTime = 253402300799;
  std::time_t not_before = absl::ToTimeT(now - std::min(absl::Minutes(5), validity / 10));
  std::time_t not_after = std::min(absl::ToTimeT(now + validity), kMaxTime);
  if (cap > 0) not_after = std::min(not_after, cap);
  if (not_after <= absl::ToTimeT(now)) {
    return absl::FailedPreconditionError("the CA has expired: it can issue no certificate");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == nullptr) {
    return sslError(absl::StatusCode::kInternal, "Failed to set certificate validity");
  }
  return absl::OkStatus();
}

absl::Status setSubjectCn(X509_NAME* name, std::string_view cn) {
  if (cn.empty()) return absl::InvalidArgumentError("Common name must not be empty");
  if (cn.size() > static_cast<std::size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("Common name too long");
  }
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument,
                    absl::StrFormat("Failed to set common name '%s'", cn));
  }
  return absl::OkStatus();
}

absl::Status addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (!ext) {
    return sslError(absl::StatusCode::kInternal,
                    absl::StrFormat("Failed to build %s extension", OBJ_nid2sn(nid)));
  }
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return sslError(absl::StatusCode::kInternal,
                    absl::StrFormat("Failed to add %s extension", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

// Built as GENERAL_NAMEs rather than an OpenSSL config string ("DNS:a,IP:b") so that a name
// containing a comma cannot smuggle in an extra SAN.
absl::Status addSubjectAltNames(X509* cert, const CertProfile& profile) {
  if (profile.dns_names.empty() && profile.ip_addresses.empty()) return absl::OkStatus();
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return sslError(absl::StatusCode::kInternal, "Failed to allocate SAN list");
  for (const std::string& dns : profile.dns_names) {
    if (dns.empty() || dns.size() > 253) {
      return absl::InvalidArgumentError(absl::StrFormat("Invalid DNS name '%s'", dns));
    }
    for (char c : dns) {
      if (c <= 0x20 || c >= 0x7f) {
        return absl::InvalidArgumentError(absl::StrFormat("Invalid DNS name '%s'", dns));
      }
    }
    Ia5StringPtr value(ASN1_IA5STRING_new());
    GeneralNamePtr gn(GENERAL_NAME_new());
    if (!value || !gn ||
        ASN1_STRING_set(value.get(), dns.data(), static_cast<int>(dns.size())) != 1) {
      return sslError(absl::StatusCode::kInternal, "Failed to build DNS SAN");
    }
    GENERAL_NAME_set0_value(gn.get(), GEN_DNS, value.release());
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) {
      return sslError(absl::StatusCode::kInternal, "Failed to build SAN list");
    }
    gn.release();
  }
  for (const std::string& ip : profile.ip_addresses) {
    unsigned char addr[16];
    int len = 0;
    if (inet_pton(AF_INET, ip.c_str(), addr) == 1) {
      len = 4;
    } else if (inet_pton(AF_INET6, ip.c_str(), addr) == 1) {
      len = 16;
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("Invalid IP address '%s' in certificate profile", ip));
    }
    OctetStringPtr value(ASN1_OCTET_STRING_new());
    GeneralNamePtr gn(GENERAL_NAME_new());
    if (!value || !gn || ASN1_OCTET_STRING_set(value.get(), addr, len) != 1) {
      return sslError(absl::StatusCode::kInternal, "Failed to build IP SAN");
    }
    GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, value.release());
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) {
      return sslError(absl::StatusCode::kInternal, "Failed to build SAN list");
    }
    gn.release();
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to add subjectAltName extension");
  }
  return absl::OkStatus();
}

// The one place leaf certificates are minted; signCsr and issueCertificate differ only in where
// the subject's public key comes from.
absl::StatusOr<std::string> issueForKey(const CertificateAuthority& ca, EVP_PKEY* subject_key,
                                        const CertProfile& profile) {
  if (!profile.server && !profile.client) {
    // Without extendedKeyUsage a certificate is good for every purpose; never issue one of those.
    return absl::InvalidArgumentError(
        "Certificate profile must allow server and/or client authentication");
  }
  auto ca_cert = parseCert(ca.cert_pem);
  if (!ca_cert.ok()) return ca_cert.status();
  auto ca_key = parsePrivateKey(ca.key_pem);
  if (!ca_key.ok()) return ca_key.status();
  if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument,
                    "CA private key does not match the CA certificate");
  }

  X509Ptr cert(X509_new());
  if (!cert) return sslError(absl::StatusCode::kInternal, "Failed to allocate certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to set certificate version");
  }
  if (auto s = setRandomSerial(cert.get()); !s.ok()) return s;
  auto ca_not_after = asn1TimeToAbsl(X509_get0_notAfter(ca_cert->get()));
  if (!ca_not_after.ok()) return ca_not_after.status();
  if (auto s = setValidity(cert.get(), profile.validity, absl::ToTimeT(*ca_not_after)); !s.ok()) {
    return s;
  }
  if (auto s = setSubjectCn(X509_get_subject_name(cert.get()), profile.common_name); !s.ok()) {
    return s;
  }
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert->get())) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to fill in certificate");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert->get(), cert.get(), nullptr, nullptr, 0);
  std::string eku;
  if (profile.server) eku = "serverAuth";
  if (profile.client) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      // keyEncipherment is meaningless for EC keys (RFC 5480 section 3) and TLS 1.3 never uses it.
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, eku.c_str()},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  for (const auto& [nid, value] : extensions) {
    if (auto s = addExtension(cert.get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (auto s = addSubjectAltNames(cert.get(), profile); !s.ok()) return s;

  if (X509_sign(cert.get(), ca_key->get(), signingDigest(ca_key->get())) <= 0) {
    return sslError(absl::StatusCode::kInternal, "Failed to sign certificate");
  }
  return certToPem(cert.get());
}

}  // namespace

absl::StatusOr<std::string> generateEcKeyPem() {
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate P-256 key");
  }
  PkeyPtr key(raw);
  return privateKeyToPem(key.get());
}

absl::StatusOr<CertificateAuthority> createCa(std::string_view common_name,
                                              absl::Duration validity) {
  auto key_pem = generateEcKeyPem();
  if (!key_pem.ok()) return key_pem.status();
  ERR_clear_error();
  auto key = parsePrivateKey(*key_pem);
  if (!key.ok()) return key.status();

  X509Ptr cert(X509_new());
  if (!cert) return sslError(absl::StatusCode::kInternal, "Failed to allocate certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to set certificate version");
  }
  if (auto s = setRandomSerial(cert.get()); !s.ok()) return s;
  if (auto s = setValidity(cert.get(), validity); !s.ok()) return s;
  if (auto s = setSubjectCn(X509_get_subject_name(cert.get()), common_name); !s.ok()) return s;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1 ||
      X509_set_pubkey(cert.get(), key->get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to fill in CA certificate");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,keyCertSign,cRLSign"},
      {NID_subject_key_identifier, "hash"},
  };
  for (const auto& [nid, value] : extensions) {
    if (auto s = addExtension(cert.get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), key->get(), EVP_sha256()) <= 0) {
    return sslError(absl::StatusCode::kInternal, "Failed to sign CA certificate");
  }
  auto cert_pem = certToPem(cert.get());
  if (!cert_pem.ok()) return cert_pem.status();
  return CertificateAuthority{*std::move(cert_pem), *std::move(key_pem)};
}

absl::StatusOr<std::string> createCsr(std::string_view key_pem, std::string_view common_name) {
  ERR_clear_error();
  auto key = parsePrivateKey(key_pem);
  if (!key.ok()) return key.status();
  ReqPtr req(X509_REQ_new());
  if (!req) return sslError(absl::StatusCode::kInternal, "Failed to allocate CSR");
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to set CSR version");
  }
  if (auto s = setSubjectCn(X509_REQ_get_subject_name(req.get()), common_name); !s.ok()) return s;
  if (X509_REQ_set_pubkey(req.get(), key->get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to set CSR public key");
  }
  if (X509_REQ_sign(req.get(), key->get(), signingDigest(key->get())) <= 0) {
    return sslError(absl::StatusCode::kInternal, "Failed to sign CSR");
  }
  auto bio = writeBio();
  if (!bio.ok()) return bio.status();
  if (PEM_write_bio_X509_REQ(bio->get(), req.get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to encode CSR");
  }
  return bioContents(bio->get());
}

absl::StatusOr<std::string> signCsr(const CertificateAuthority& ca, std::string_view csr_pem,
                                    const CertProfile& profile) {
  ERR_clear_error();
  auto bio = readBio(csr_pem);
  if (!bio.ok()) return bio.status();
  ReqPtr req(PEM_read_bio_X509_REQ(bio->get(), nullptr, noPassphrase, nullptr));
  if (!req) return sslError(absl::StatusCode::kInvalidArgument, "Failed to parse CSR");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) return sslError(absl::StatusCode::kInvalidArgument, "CSR has no usable key");
  // Proof of possession: the requester holds the private key it wants certified.
  if (X509_REQ_verify(req.get(), key) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument, "CSR signature does not verify");
  }
  return issueForKey(ca, key, profile);
}

absl::StatusOr<std::string> issueCertificate(const CertificateAuthority& ca,
                                             std::string_view key_pem, const CertProfile& profile) {
  ERR_clear_error();
  auto key = parsePrivateKey(key_pem);
  if (!key.ok()) return key.status();
  return issueForKey(ca, key->get(), profile);
}

}  // namespace warden::crypto
