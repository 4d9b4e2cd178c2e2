// ControllerPins::decode (the agent's state file) and addressOfGrpcPeer (gRPC's peer string).
// decode keeps only well-formed pins, at most kMaxPins, and encode() of what it kept decodes
// to the same encoding; a peer address is a host address that reads back from its own text.
#include "agent/runtime/controller_pins.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);

  const ControllerPins pins = ControllerPins::decode(text);
  FUZZ_CHECK(pins.addresses().size() <= kMaxPins);
  const std::string encoded = pins.encode();
  FUZZ_CHECK(ControllerPins::decode(encoded).encode() == encoded);
  for (const IpPrefix& a : pins.addresses()) {
    FUZZ_CHECK(a.isHost());
    auto again = IpPrefix::parse(a.toString());
    FUZZ_CHECK(again.ok() && *again == a);
  }

  if (const std::optional<IpPrefix> peer = addressOfGrpcPeer(text)) {
    FUZZ_CHECK(peer->isHost());
    auto again = IpPrefix::parse(peer->toString());
    FUZZ_CHECK(again.ok() && *again == *peer);
    const std::string canonical = peer->isV4() ? "ipv4:" + peer->toString() + ":7443"
                                               : "ipv6:[" + peer->toString() + "]:7443";
    FUZZ_CHECK(addressOfGrpcPeer(canonical) == peer);
  }
  return 0;
}
