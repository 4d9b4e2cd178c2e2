// What the common/crypto tests use to make inputs and to inspect outputs: hex that must decode,
// and OpenSSL's own parsers for the keys and certificates the code under test produced (so
// the tests do not check the code with itself).
#pragma once

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/encoding.h"
#include "common/crypto/x509.h"

namespace warden::testing {

inline std::string unhexOrDie(std::string_view text) {
  auto bytes = crypto::unhex(text);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// ---- OpenSSL helpers for inspecting what the code under test produced --------------------------

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline X509Ptr parseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(cert, nullptr) << "test could not parse certificate";
  return X509Ptr(cert);
}

inline PkeyPtr parseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(key, nullptr) << "test could not parse private key";
  return PkeyPtr(key);
}

inline std::string derOf(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<const char*>(der), len > 0 ? len : 0);
  OPENSSL_free(der);
  return out;
}

inline bool extensionIsCritical(X509* cert, int nid) {
  int idx = X509_get_ext_by_NID(cert, nid, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

// Seconds from `t` to now (positive when `t` is in the past).
inline int secondsAgo(const ASN1_TIME* t) {
  int days = 0;
  int secs = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &secs, t, nullptr), 1);
  return days * 86400 + secs;
}

// CertProfile has defaulted members, which -Wmissing-field-initializers dislikes in designated
// initializers; build profiles through this instead.
inline crypto::CertProfile makeProfile(std::string cn, bool server, bool client,
                                       std::vector<std::string> dns = {},
                                       std::vector<std::string> ips = {}) {
  crypto::CertProfile p;
  p.common_name = std::move(cn);
  p.server = server;
  p.client = client;
  p.dns_names = std::move(dns);
  p.ip_addresses = std::move(ips);
  return p;
}

}  // namespace warden::testing
