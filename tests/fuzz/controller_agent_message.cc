// What the controller decodes from an agent's stream: the AgentMessage protobuf, then a
// receipt's signature and canonical bytes. Parsing is total (any bytes: a message or an error),
// a parsed message serializes deterministically and reparses to the same bytes, and a receipt
// under a key the agent never had does not verify.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "tests/fuzz/fuzz_check.h"
#include "warden/v1/agent.pb.h"

namespace {

std::string deterministic(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  FUZZ_CHECK(m.SerializeToCodedStream(&coded));
  coded.Trim();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  v1::AgentMessage msg;
  if (size > (1 << 20) || !msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  const std::string bytes = deterministic(msg);
  v1::AgentMessage again;
  FUZZ_CHECK(again.ParseFromString(bytes));
  FUZZ_CHECK(deterministic(again) == bytes);
  if (msg.has_receipt()) {
    static const std::string kKey(32, '\x42');  // not a key any agent signed with
    FUZZ_CHECK(
        !crypto::ed25519Verify(kKey, msg.receipt().receipt(), msg.receipt().signature()).ok());
    if (auto r = decodeReceipt(msg.receipt().receipt()); r.ok()) {
      FUZZ_CHECK(encodeReceipt(*r) == msg.receipt().receipt());
    }
  }
  return 0;
}
