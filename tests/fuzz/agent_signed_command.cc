// What the agent decodes from the controller's stream: the ControllerMessage protobuf, then a
// command's signature, canonical bytes and log proof (verifyCommand, verifyDispatchProof).
// Nothing under a key the agent does not trust is accepted; any command bytes that decode, once
// signed by the trusted key, are accepted or refused with a reason, and what is accepted is
// exactly what was signed.
#include "agent/runtime/command_verifier.h"
#include "common/audit/dispatch_proof.h"
#include "common/crypto/ed25519.h"
#include "tests/fuzz/fuzz_check.h"
#include "warden/v1/agent.pb.h"

namespace {

constexpr std::int64_t kNow = 1764600000000;  // 2025-12-01, a fixed clock

const warden::crypto::Ed25519Key& commandKey() {
  static const warden::crypto::Ed25519Key key = [] {
    auto k = warden::crypto::Ed25519Key::generate();
    FUZZ_CHECK(k.ok());
    return *k;
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  v1::ControllerMessage msg;
  if (size > (1 << 20) || !msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!msg.has_command()) return 0;
  const v1::SignedCommand& sc = msg.command();

  CommandTrust trust;
  trust.command_public_key = commandKey().publicKey();
  trust.host_id = "host-1";
  trust.log_vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  // The fuzzer cannot forge a signature by a key generated at start-up.
  FUZZ_CHECK(!verifyCommand(sc.command(), sc.signature(), trust, kNow).ok());

  DispatchProof proof;
  proof.checkpoint = sc.checkpoint();
  proof.index = sc.log_index();
  proof.entry = sc.log_entry();
  proof.proof.assign(sc.inclusion_proof().begin(), sc.inclusion_proof().end());
  FUZZ_CHECK(!verifyDispatchProof(trust.log_vkey, sc.command(), sc.signature(), proof).ok());

  auto decoded = decodeCommand(sc.command());
  if (!decoded.ok()) return 0;
  auto signature = commandKey().sign(sc.command());
  FUZZ_CHECK(signature.ok());
  trust.host_id = decoded->host_id;
  auto verified = verifyCommand(sc.command(), *signature, trust, kNow);
  if (verified.ok()) {
    FUZZ_CHECK(encodeCommand(*verified) == sc.command());
    FUZZ_CHECK(knownCommandKind(verified->kind) && verified->expires_unix_ms > kNow);
  }
  trust.host_id = decoded->host_id + "x";
  FUZZ_CHECK(!verifyCommand(sc.command(), *signature, trust, kNow).ok());
  return 0;
}
