// The agent's TLS certificate, kept current over the channel (DESIGN.md "The hostile host").
//
// While the agent runs, a thread renews the certificate once the last third of its lifetime (or
// its last 30 days) has begun (common/cert_lifetime.h; each agent a random share of up to a tenth
// of that window later, at most a day, so a fleet does not renew at one moment): a new TLS key and
// its CSR, signed with
// the agent's enrolled receipt key over a single-use controller challenge, sent with the current
// certificate (controller/renewal/). A certificate that expired while the host was offline is
// renewed the same way before the next connection, without a client certificate: the enrolled
// key alone proves the host, so an isolated host whose certificate ran out can still be released
// through the controller, no join token needed. Failures are logged and retried, doubling from a
// second up to a tenth of the lifetime (at most an hour).
//
// The TLS key is rotated at every renewal; the receipt key is not (it is pinned in the action
// log and signs every receipt). The new pair is stored as tls.next.key and tls.next.crt, each
// written atomically (temp file, fsync, rename), then renamed over tls.key and tls.crt; a crash
// between the two renames is finished by recover() at the next start. identity() reads the pair
// under the same lock the swap holds, so no connection ever takes one renewal's key with
// another's certificate.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "agent/runtime/state_store.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/x509.h"

namespace grpc {
class ClientContext;
}

namespace warden {

class AgentCertificate {
 public:
  // `controller`: HOST:PORT as enrolled.
  AgentCertificate(StateStore& store, std::string host_id, std::string controller,
                   crypto::Ed25519Key receipt_key);
  ~AgentCertificate();

  // Finishes, or throws away, a renewal that a crash interrupted.
  absl::Status recover();

  // The TLS identity to connect with.
  struct Identity {
    std::string ca_pem;
    std::string key_pem;
    std::string cert_pem;
  };
  absl::StatusOr<Identity> identity();

  // Before a connection: when the certificate has expired (or expires within a few seconds),
  // renews it with the enrolled key alone. OK when there was nothing to do or it renewed.
  absl::Status renewIfExpired();

  // The renewal thread; stop() ends it (and is called by the destructor).
  void start();
  void stop();

 private:
  // One renewal now: with the current certificate, or (`expired`) with none.
  absl::Status renew(bool expired);
  absl::Status store(const std::string& key_pem, const std::string& cert_pem);
  void loop();

  StateStore& store_;
  const std::string host_id_;
  const std::string controller_;
  const crypto::Ed25519Key receipt_key_;
  std::mutex renew_mu_;  // one renewal at a time
  std::mutex files_mu_;  // the swap of tls.key/tls.crt against identity()
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                    // guarded by mu_
  grpc::ClientContext* inflight_ = nullptr;  // the renewal call under way; guarded by mu_
  std::thread thread_;
};

}  // namespace warden
