#include "common/crypto.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/str_format.h"

namespace warden::crypto {
namespace {

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

void opensslFree(void* p) { OPENSSL_free(p); }
using OpensslStringPtr = std::unique_ptr<unsigned char, Deleter<opensslFree>>;

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// ---- Errors
// ---------------------------------------------------------------------------------------

// Drains this thread's OpenSSL error queue, so the next failure reports only its own causes.
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

absl::Status errnoError(absl::StatusCode code, std::string_view what, int err) {
  return absl::Status(code, absl::StrFormat("%s: %s (errno %d)", what, std::strerror(err), err));
}

// ---- PEM/DER plumbing
// -----------------------------------------------------------------------------

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

// Never prompt on the terminal for a passphrase (OpenSSL's default when no callback is given):
// Warden's keys are unencrypted, and a daemon must fail rather than block on a tty.
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

// EdDSA signs the message itself (no separate digest), so OpenSSL wants a NULL md for it.
const EVP_MD* signingDigest(EVP_PKEY* key) {
  int id = EVP_PKEY_get_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

// ---- base64
// ---------------------------------------------------------------------------------------

constexpr char kBase64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encodeBase64(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8) |
                      static_cast<std::uint8_t>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    std::uint32_t v = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Strict decoder: one canonical encoding per byte string. No whitespace, padding exactly where
// RFC 4648 puts it (or nowhere, for the unpadded form), and unused trailing bits must be zero,
// so a signed value cannot be re-encoded into a different-looking but equal string.
absl::StatusOr<std::string> decodeBase64(std::string_view text, const char* alphabet, bool padded,
                                         std::string_view name) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat("Invalid %s: %s", name, why));
  };
  std::size_t data_len = text.size();
  if (padded) {
    if (text.size() % 4 != 0) return invalid("length is not a multiple of 4");
    if (data_len > 0 && text[data_len - 1] == '=') --data_len;
    if (data_len > 0 && text[data_len - 1] == '=') --data_len;
    // Anything else that looks like padding ("x===", "a=bc") fails below as a stray '='.
  } else if (data_len % 4 == 1) {
    return invalid("impossible length");
  }
  int8_t lookup[256];
  std::memset(lookup, -1, sizeof lookup);
  for (int i = 0; i < 64; ++i)
    lookup[static_cast<std::uint8_t>(alphabet[i])] = static_cast<int8_t>(i);

  std::string out;
  out.reserve(data_len / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < data_len; ++i) {
    int8_t v = lookup[static_cast<std::uint8_t>(text[i])];
    if (v < 0) {
      return text[i] == '=' ? invalid("bad padding")
                            : invalid(absl::StrFormat("bad character at offset %d", i));
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return invalid("non-zero trailing bits");
  return out;
}

// ---- certificate building
// -------------------------------------------------------------------------

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

absl::Status setValidity(X509* cert, absl::Duration validity) {
  if (validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Certificate validity must be positive");
  }
  // Back-dated so that a peer whose clock is a little behind still accepts a fresh certificate.
  absl::Time now = absl::Now();
  // RFC 5280 4.1.2.5: 99991231235959Z means "no well-defined expiration"; nothing later encodes.
  constexpr std::time_t kMaxTime = 253402300799;
  std::time_t not_before = absl::ToTimeT(now - absl::Minutes(5));
  std::time_t not_after = std::min(absl::ToTimeT(now + validity), kMaxTime);
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
  if (auto s = setValidity(cert.get(), profile.validity); !s.ok()) return s;
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

// ---- TLS client helpers
// ---------------------------------------------------------------------------

// OpenSSL writes to the socket with plain write(2); if the server drops the connection mid-way
// that raises SIGPIPE, which would kill a process that has not ignored it. Block it on this thread
// for the duration and swallow any instance we caused.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    int saved_errno = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved_errno;
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool blocked_ = false;
};

// Milliseconds left until `deadline` for poll(2): -1 for no deadline, 0 once it has passed.
int remainingMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
}

// Waits for `events` on fd; false once the deadline passes.
absl::StatusOr<bool> waitFd(int fd, short events, absl::Time deadline) {
  for (;;) {
    int ms = remainingMs(deadline);
    if (ms == 0) return false;
    pollfd pfd{fd, events, 0};
    int r = poll(&pfd, 1, ms);
    if (r > 0) return true;
    if (r == 0) continue;  // Re-check the clock: poll may round down.
    if (errno == EINTR) continue;
    return errnoError(absl::StatusCode::kInternal, "poll failed", errno);
  }
}

absl::StatusOr<int> connectTcp(const std::string& host, std::uint16_t port, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string port_str = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &result);
  if (rc != 0) {
    int err = errno;
    std::string why = rc == EAI_SYSTEM ? absl::StrFormat("%s (errno %d)", std::strerror(err), err)
                                       : std::string(gai_strerror(rc));
    return absl::UnavailableError(absl::StrFormat("Failed to resolve %s: %s", host, why));
  }
  std::unique_ptr<addrinfo, Deleter<freeaddrinfo>> addrs(result);

  absl::Status last = absl::UnavailableError(absl::StrFormat("No addresses for %s", host));
  for (addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
    FdCloser fd(
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last = errnoError(absl::StatusCode::kUnavailable, "Failed to create socket", errno);
      continue;
    }
    std::string where = absl::StrFormat("Failed to connect to %s port %d", host, port);
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = errnoError(absl::StatusCode::kUnavailable, where, errno);
        continue;
      }
      auto ready = waitFd(fd.get(), POLLOUT, deadline);
      if (!ready.ok()) return ready.status();
      if (!*ready) {
        return absl::DeadlineExceededError(absl::StrFormat("%s: timed out", where));
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        last = errnoError(absl::StatusCode::kUnavailable, where, err);
        continue;
      }
    }
    return fd.release();
  }
  return last;
}

}  // namespace

// ---- Hashing and encodings
// ------------------------------------------------------------------------

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1) {
    // Only fails on allocation failure inside OpenSSL; there is no sensible digest to return.
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation failure inside OpenSSL is the only way this fails: nothing sensible to go on.
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256::Sha256(Sha256&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  std::swap(ctx_, other.ctx_);
  return *this;
}

void Sha256::update(std::string_view data) {
  if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) std::abort();
}

std::string Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out, &len) != 1 ||
      EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Sha256::digestSoFar() const {
  Sha256 copy;
  if (EVP_MD_CTX_copy_ex(copy.ctx_, ctx_) != 1) std::abort();
  return copy.finish();
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

absl::StatusOr<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return absl::InvalidArgumentError("Invalid hex: odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]);
    int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("Invalid hex: bad character at offset %d", hi < 0 ? i : i + 1));
    }
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string base64(std::string_view bytes) { return encodeBase64(bytes, kBase64Std, true); }

absl::StatusOr<std::string> unbase64(std::string_view text) {
  return decodeBase64(text, kBase64Std, true, "base64");
}

std::string base64url(std::string_view bytes) { return encodeBase64(bytes, kBase64Url, false); }

absl::StatusOr<std::string> unbase64url(std::string_view text) {
  return decodeBase64(text, kBase64Url, false, "base64url");
}

absl::StatusOr<std::string> randomBytes(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("Too many random bytes requested");
  }
  std::string out(n, '\0');
  if (n == 0) return out;
  ERR_clear_error();
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate random bytes");
  }
  return out;
}

bool equalConstantTime(std::string_view a, std::string_view b) {
  // The length is not secret (all Warden secrets are fixed-size), so it may short-circuit.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- Ed25519
// --------------------------------------------------------------------------------------

absl::StatusOr<Ed25519Key> Ed25519Key::generate() {
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate Ed25519 key");
  }
  return Ed25519Key(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromPem(std::string_view pem) {
  ERR_clear_error();
  auto key = parsePrivateKey(pem);
  if (!key.ok()) return key.status();
  if (EVP_PKEY_get_id(key->get()) != EVP_PKEY_ED25519) {
    const char* type = EVP_PKEY_get0_type_name(key->get());
    return absl::InvalidArgumentError(absl::StrFormat("Private key is not Ed25519 (it is %s)",
                                                      type != nullptr ? type : "unknown"));
  }
  return Ed25519Key(std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free));
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromRawPrivate(std::string_view seed32) {
  if (seed32.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 private key must be 32 bytes, got %d", seed32.size()));
  }
  ERR_clear_error();
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed32.data()), 32);
  if (raw == nullptr) return sslError(absl::StatusCode::kInternal, "Failed to load Ed25519 key");
  return Ed25519Key(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

std::string Ed25519Key::toPem() const {
  ERR_clear_error();
  auto pem = privateKeyToPem(key_.get());
  if (!pem.ok()) return {};
  return *std::move(pem);
}

std::string Ed25519Key::publicKey() const {
  unsigned char out[32];
  std::size_t len = sizeof out;
  if (EVP_PKEY_get_raw_public_key(key_.get(), out, &len) != 1) {
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

absl::StatusOr<std::string> Ed25519Key::sign(std::string_view message) const {
  ERR_clear_error();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to initialise Ed25519 signing");
  }
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to sign");
  }
  sig.resize(len);
  return sig;
}

absl::Status ed25519Verify(std::string_view public_key, std::string_view message,
                           std::string_view signature) {
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 public key must be 32 bytes, got %d", public_key.size()));
  }
  if (signature.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 signature must be 64 bytes, got %d", signature.size()));
  }
  ERR_clear_error();
  PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()), 32));
  if (!key) return sslError(absl::StatusCode::kInvalidArgument, "Invalid Ed25519 public key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to initialise Ed25519 verification");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (rc != 1) {
    // A forged or corrupted signature is the expected failure, not an OpenSSL malfunction.
    ERR_clear_error();
    return absl::PermissionDeniedError("Ed25519 signature does not verify");
  }
  return absl::OkStatus();
}

// ---- Keys and certificates
// ------------------------------------------------------------------------

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

// ---- Enrollment bootstrap
// -------------------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> fetchPeerChain(std::string_view host, std::uint16_t port,
                                                        absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Timeout must be positive");
  }
  std::string host_str(host);
  if (host_str.size() >= 2 && host_str.front() == '[' && host_str.back() == ']') {
    host_str = host_str.substr(1, host_str.size() - 2);
  }
  // One deadline for connect and handshake together. The handshake is driven non-blocking
  // through poll() so a server that trickles bytes cannot stretch it beyond the timeout (per-call
  // SO_RCVTIMEO would restart with every byte).
  absl::Time deadline = absl::Now() + timeout;
  ScopedSigpipeBlock no_sigpipe;

  auto fd_or = connectTcp(host_str, port, deadline);
  if (!fd_or.ok()) return fd_or.status();
  FdCloser fd(*fd_or);
  std::string where = absl::StrFormat("TLS handshake with %s port %d", host_str, port);

  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return sslError(absl::StatusCode::kInternal, "Failed to create TLS context");
  // Nothing is verified here on purpose: the caller pins the CA fingerprint from the join token.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to require TLS 1.3");
  }
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return sslError(absl::StatusCode::kInternal, "Failed to create TLS session");
  // The controller is a gRPC server, which drops connections that do not negotiate HTTP/2.
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  if (SSL_set_fd(ssl.get(), fd.get()) != 1 ||
      SSL_set_tlsext_host_name(ssl.get(), "warden-controller") != 1 ||
      SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn) != 0) {
    return sslError(absl::StatusCode::kInternal, "Failed to configure TLS session");
  }

  // No client certificate is configured: the controller asks for one but does not insist, and
  // OpenSSL then answers with an empty Certificate message.
  for (;;) {
    int rc = SSL_connect(ssl.get());
    if (rc == 1) break;
    int saved_errno = errno;
    int err = SSL_get_error(ssl.get(), rc);
    short events = 0;
    if (err == SSL_ERROR_WANT_READ) {
      events = POLLIN;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      events = POLLOUT;
    } else if (err == SSL_ERROR_SYSCALL) {
      std::string detail = opensslErrors();
      if (saved_errno != 0) {
        return errnoError(absl::StatusCode::kUnavailable, where, saved_errno);
      }
      return absl::UnavailableError(
          absl::StrFormat("%s: connection closed by peer (%s)", where, detail));
    } else if (err == SSL_ERROR_ZERO_RETURN) {
      return absl::UnavailableError(absl::StrFormat("%s: connection closed by peer", where));
    } else {
      return sslError(absl::StatusCode::kUnavailable, absl::StrFormat("%s failed", where));
    }
    auto ready = waitFd(fd.get(), events, deadline);
    if (!ready.ok()) return ready.status();
    if (!*ready) return absl::DeadlineExceededError(absl::StrFormat("%s: timed out", where));
  }

  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
  std::vector<std::string> out;
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    auto pem = certToPem(sk_X509_value(chain, i));
    if (!pem.ok()) return pem.status();
    out.push_back(*std::move(pem));
  }
  // Best-effort close_notify; we do not wait for the server's reply.
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  if (out.empty()) {
    return absl::UnavailableError(absl::StrFormat("%s: server sent no certificate", where));
  }
  return out;
}

// ---- Sealed boxes (X25519 + HKDF-SHA256 + AES-256-GCM) -----------------------------------------

namespace {

constexpr std::size_t kX25519KeySize = 32;
constexpr std::size_t kSealNonceSize = 12;
constexpr std::size_t kSealTagSize = 16;
constexpr char kSealInfo[] = "warden seal v1";

using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using KdfPtr = std::unique_ptr<EVP_KDF, Deleter<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX_free>>;

const unsigned char* bytesOf(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

absl::StatusOr<PkeyPtr> x25519Public(std::string_view raw) {
  if (raw.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("X25519 public key must be 32 bytes, got %d", raw.size()));
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, bytesOf(raw), raw.size()));
  if (!key) return sslError(absl::StatusCode::kInvalidArgument, "Invalid X25519 public key");
  return key;
}

absl::StatusOr<PkeyPtr> x25519Private(std::string_view raw) {
  if (raw.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("X25519 private key must be 32 bytes, got %d", raw.size()));
  }
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytesOf(raw), raw.size()));
  if (!key) return sslError(absl::StatusCode::kInvalidArgument, "Invalid X25519 private key");
  return key;
}

absl::StatusOr<std::string> rawPublic(EVP_PKEY* key) {
  std::string out(kX25519KeySize, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kX25519KeySize) {
    return sslError(absl::StatusCode::kInternal, "Failed to export X25519 public key");
  }
  return out;
}

// The X25519 shared secret, then HKDF-SHA256 to the AES-256 key. An all-zero shared secret
// (a low-order peer key, RFC 7748 §6.1) is refused by OpenSSL's derive.
absl::StatusOr<std::string> sealKey(EVP_PKEY* own, EVP_PKEY* peer, std::string_view salt) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(own, nullptr));
  std::size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument, "X25519 key agreement failed");
  }
  std::string shared(len, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument, "X25519 key agreement failed");
  }
  shared.resize(len);

  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return sslError(absl::StatusCode::kInternal, "HKDF is not available");
  KdfCtxPtr kctx(EVP_KDF_CTX_new(kdf.get()));
  if (!kctx) return sslError(absl::StatusCode::kInternal, "Failed to create HKDF context");
  std::string digest = "SHA256";
  std::string info = kSealInfo;
  std::string salt_copy(salt);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared.data(), shared.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_copy.data(), salt_copy.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  std::string key(32, '\0');
  int rc =
      EVP_KDF_derive(kctx.get(), reinterpret_cast<unsigned char*>(key.data()), key.size(), params);
  OPENSSL_cleanse(shared.data(), shared.size());
  if (rc != 1) return sslError(absl::StatusCode::kInternal, "HKDF-SHA256 failed");
  return key;
}

}  // namespace

absl::StatusOr<X25519KeyPair> generateX25519() {
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate X25519 key");
  }
  PkeyPtr key(raw);
  X25519KeyPair pair;
  pair.private_key.assign(kX25519KeySize, '\0');
  std::size_t len = kX25519KeySize;
  if (EVP_PKEY_get_raw_private_key(
          key.get(), reinterpret_cast<unsigned char*>(pair.private_key.data()), &len) != 1 ||
      len != kX25519KeySize) {
    return sslError(absl::StatusCode::kInternal, "Failed to export X25519 private key");
  }
  auto pub = rawPublic(key.get());
  if (!pub.ok()) return pub.status();
  pair.public_key = std::move(*pub);
  return pair;
}

absl::StatusOr<std::string> sealToX25519(std::string_view recipient_public,
                                         std::string_view plaintext) {
  ERR_clear_error();
  if (plaintext.size() > static_cast<std::size_t>(INT_MAX) / 2) {
    return absl::InvalidArgumentError("Plaintext too large to seal");
  }
  auto peer = x25519Public(recipient_public);
  if (!peer.ok()) return peer.status();
  auto eph = generateX25519();
  if (!eph.ok()) return eph.status();
  auto eph_key = x25519Private(eph->private_key);
  OPENSSL_cleanse(eph->private_key.data(), eph->private_key.size());
  if (!eph_key.ok()) return eph_key.status();
  std::string salt = eph->public_key + std::string(recipient_public);
  auto key = sealKey(eph_key->get(), peer->get(), salt);
  if (!key.ok()) return key.status();
  auto nonce = randomBytes(kSealNonceSize);
  if (!nonce.ok()) return nonce.status();

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out = eph->public_key + *nonce;
  std::size_t ct_at = out.size();
  out.resize(ct_at + plaintext.size() + kSealTagSize);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + ct_at;
  int len = 0;
  int fin = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceSize, nullptr) &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytesOf(*key), bytesOf(*nonce)) &&
      EVP_EncryptUpdate(ctx.get(), ct, &len, bytesOf(plaintext),
                        static_cast<int>(plaintext.size())) &&
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &fin) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTagSize, ct + plaintext.size());
  OPENSSL_cleanse(key->data(), key->size());
  if (!ok) return sslError(absl::StatusCode::kInternal, "AES-256-GCM encryption failed");
  return out;
}

absl::StatusOr<std::string> openSealed(std::string_view recipient_private,
                                       std::string_view sealed) {
  ERR_clear_error();
  constexpr std::size_t kOverhead = kX25519KeySize + kSealNonceSize + kSealTagSize;
  if (sealed.size() < kOverhead) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Sealed message too short: %d bytes", sealed.size()));
  }
  if (sealed.size() > static_cast<std::size_t>(INT_MAX) / 2) {
    return absl::InvalidArgumentError("Sealed message too large");
  }
  auto own = x25519Private(recipient_private);
  if (!own.ok()) return own.status();
  auto own_pub = rawPublic(own->get());
  if (!own_pub.ok()) return own_pub.status();
  std::string_view eph_pub = sealed.substr(0, kX25519KeySize);
  std::string_view nonce = sealed.substr(kX25519KeySize, kSealNonceSize);
  std::string_view ct = sealed.substr(kX25519KeySize + kSealNonceSize, sealed.size() - kOverhead);
  std::string tag(sealed.substr(sealed.size() - kSealTagSize));
  auto peer = x25519Public(eph_pub);
  if (!peer.ok()) return peer.status();
  auto key = sealKey(own->get(), peer->get(), std::string(eph_pub) + *own_pub);
  if (!key.ok()) return key.status();

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(ct.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int fin = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceSize, nullptr) &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytesOf(*key), bytesOf(nonce)) &&
            EVP_DecryptUpdate(ctx.get(), pt, &len, bytesOf(ct), static_cast<int>(ct.size())) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTagSize, tag.data()) &&
            EVP_DecryptFinal_ex(ctx.get(), pt + len, &fin) == 1;
  OPENSSL_cleanse(key->data(), key->size());
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    ERR_clear_error();
    return absl::PermissionDeniedError(
        "Failed to open sealed message: wrong key or the message was altered");
  }
  return out;
}

}  // namespace warden::crypto
