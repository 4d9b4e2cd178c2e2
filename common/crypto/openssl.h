// Internal to common/crypto/: what the crypto rooms share about OpenSSL — owning pointers for
// its objects, its error queue as a Status, and PEM in and out of memory. Nothing outside
// common/crypto/ includes this; the public headers keep OpenSSL's types out of sight.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::crypto {

// ---- RAII for OpenSSL objects -------------------------------------------------------------------

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;
using Ia5StringPtr = std::unique_ptr<ASN1_IA5STRING, Deleter<ASN1_IA5STRING_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;

void opensslFree(void* p);
using OpensslStringPtr = std::unique_ptr<unsigned char, Deleter<opensslFree>>;

// ---- Errors -------------------------------------------------------------------------------------

// Drains this thread's OpenSSL error queue, so the next failure reports only its own causes.
std::string opensslErrors();
// "WHAT: <the queued OpenSSL errors>".
absl::Status sslError(absl::StatusCode code, std::string_view what);

// ---- PEM plumbing -------------------------------------------------------------------------------

absl::StatusOr<BioPtr> readBio(std::string_view data);
absl::StatusOr<BioPtr> writeBio();
std::string bioContents(BIO* bio);
// Never prompt on the terminal for a passphrase (OpenSSL's default when no callback is given):
// Warden's keys are unencrypted, and a daemon must fail rather than block on a tty.
int noPassphrase(char*, int, int, void*);
absl::StatusOr<PkeyPtr> parsePrivateKey(std::string_view pem);
absl::StatusOr<X509Ptr> parseCert(std::string_view pem);
absl::StatusOr<std::string> certToPem(X509* cert);
absl::StatusOr<std::string> privateKeyToPem(EVP_PKEY* key);
// An X.509 time (UTCTime or GeneralizedTime) as an absl::Time.
absl::StatusOr<absl::Time> asn1TimeToAbsl(const ASN1_TIME* t);
// EdDSA signs the message itself (no separate digest), so OpenSSL wants a NULL md for it.
const EVP_MD* signingDigest(EVP_PKEY* key);

}  // namespace warden::crypto
