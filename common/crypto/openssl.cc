#include "common/crypto/openssl.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>

#include "absl/strings/str_format.h"

namespace warden::crypto {

void opensslFree(void* p) { OPENSSL_free(p); }

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

absl::Status sslError(absl::StatusCode code, std::string_view what) {
  return absl::Status(code, absl::StrFormat("%s: %s", what, opensslErrors()));
}

absl::StatusOr<BioPtr> readBio(std::string_view data) {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("Input too large");
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) return sslError(absl::StatusCode::kInternal, "Failed to create memory BIO");
  return bio;
}

absl::StatusOr<BioPtr> writeBio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return sslError(absl::StatusCode::kInternal, "Failed to create memory BIO");
  return bio;
}

std::string bioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(len));
}

int noPassphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<PkeyPtr> parsePrivateKey(std::string_view pem) {
  auto bio = readBio(pem);
  if (!bio.ok()) return bio.status();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, noPassphrase, nullptr));
  if (!key) return sslError(absl::StatusCode::kInvalidArgument, "Failed to parse private key");
  return key;
}

absl::StatusOr<X509Ptr> parseCert(std::string_view pem) {
  auto bio = readBio(pem);
  if (!bio.ok()) return bio.status();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, noPassphrase, nullptr));
  if (!cert) return sslError(absl::StatusCode::kInvalidArgument, "Failed to parse certificate");
  return cert;
}

absl::StatusOr<std::string> certToPem(X509* cert) {
  auto bio = writeBio();
  if (!bio.ok()) return bio.status();
  if (PEM_write_bio_X509(bio->get(), cert) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to encode certificate");
  }
  return bioContents(bio->get());
}

absl::StatusOr<std::string> privateKeyToPem(EVP_PKEY* key) {
  auto bio = writeBio();
  if (!bio.ok()) return bio.status();
  // OpenSSL 3 writes PKCS#8 ("BEGIN PRIVATE KEY") for every key type here.
  if (PEM_write_bio_PrivateKey(bio->get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to encode private key");
  }
  return bioContents(bio->get());
}

absl::StatusOr<absl::Time> asn1TimeToAbsl(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument, "Failed to read certificate time");
  }
  // ASN1_TIME_to_tm gives UTC; timegm(3) reads it as such.
  return absl::FromTimeT(timegm(&tm));
}

const EVP_MD* signingDigest(EVP_PKEY* key) {
  int id = EVP_PKEY_get_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

}  // namespace warden::crypto
