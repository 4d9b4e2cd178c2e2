// IpPrefix, AllowEntry and HostPort parsing: the addresses in every request and command (and
// the agent's own state). What parses prints canonically, and the canonical text parses back
// to the same value and prints the same (one rule, one text).
#include "common/net.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);
  if (auto p = IpPrefix::parse(text); p.ok()) {
    FUZZ_CHECK(p->length >= 0 && p->length <= p->maxLength());
    auto again = IpPrefix::parse(p->toString());
    FUZZ_CHECK(again.ok() && *again == *p && again->toString() == p->toString());
    FUZZ_CHECK(p->contains(*p));
  }
  if (auto a = AllowEntry::parse(text); a.ok()) {
    auto again = AllowEntry::parse(a->toString());
    FUZZ_CHECK(again.ok() && *again == *a && again->toString() == a->toString());
  }
  if (auto h = HostPort::parse(text); h.ok()) {
    auto again = HostPort::parse(h->toString());
    FUZZ_CHECK(again.ok() && again->host == h->host && again->port == h->port);
  }
  return 0;
}
