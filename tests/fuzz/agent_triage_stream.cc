// What the agent takes from the sandboxed triage collector (agent/os/linux/triage/
// collector_wire.h): the byte stream cut into frames (first 2 bytes of the input choose the
// piece size, so frames arrive torn the way a socket tears them), each message's entry,
// member and orders checked. A frame over the limit is an error, never an allocation; what the
// checks accept is a name that cannot leave the archive or take the agent's own members, and it
// survives the trip back to the wire unchanged.
#include <cstring>

#include "absl/strings/match.h"
#include "agent/os/linux/triage/collector_wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace warden;
using namespace warden::triage;

void checkName(const std::string& name) {
  FUZZ_CHECK(name.size() <= kMaxHostString);
  FUZZ_CHECK(name.find('\0') == std::string::npos);
  FUZZ_CHECK(name.find("/../") == std::string::npos && name.find("/./") == std::string::npos);
  FUZZ_CHECK(!absl::EndsWith(name, "/..") && name.find("//") == std::string::npos);
  const auto& outputs = collectorOutputNames();
  FUZZ_CHECK(absl::StartsWith(name, "files/") ||
             std::find(outputs.begin(), outputs.end(), name) != outputs.end());
}

void checkMessage(const v1::CollectorMessage& m) {
  if (m.has_entry()) {
    if (auto e = entryFromWire(m.entry()); e.ok()) {
      checkName(e->name);
      FUZZ_CHECK(e->type == '0' || e->size == 0);
      FUZZ_CHECK(e->mode <= 07777);
      auto again = entryFromWire(entryToWire(*e));
      FUZZ_CHECK(again.ok() && again->name == e->name && again->size == e->size &&
                 again->link == e->link && again->type == e->type);
    }
  }
  if (m.has_member()) {
    if (auto t = memberFromWire(m.member()); t.ok()) {
      checkName(t->name);
      FUZZ_CHECK(t->error.size() <= kMaxErrorString && t->source.size() <= kMaxHostString);
      auto again = memberFromWire(memberToWire(*t));
      FUZZ_CHECK(again.ok() && again->name == t->name && again->type == t->type &&
                 again->error == t->error && again->mtime == t->mtime);
    }
  }
  if (m.has_orders()) {
    if (auto o = ordersFromWire(m.orders()); o.ok()) {
      FUZZ_CHECK(o->uid != 0 && o->gid != 0 && o->root[0] == '/');
      FUZZ_CHECK(o->limits.max_members > 0 && o->limits.max_total_bytes > 0);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t piece = 1 + (data[0] | (static_cast<std::size_t>(data[1]) << 8));
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  FrameReader reader(1u << 16);  // a smaller limit than the agent's, so it is reached
  while (!in.empty()) {
    const std::size_t n = std::min(piece, in.size());
    reader.feed(in.substr(0, n));
    in.remove_prefix(n);
    for (;;) {
      auto m = reader.next();
      if (!m.ok()) return 0;  // a broken stream: the agent stops the collector
      if (!m->has_value()) break;
      checkMessage(**m);
      // A parsed message frames and reads back to the same message.
      FrameReader again;
      again.feed(frameMessage(**m));
      auto back = again.next();
      FUZZ_CHECK(back.ok() && back->has_value());
      FUZZ_CHECK((*back)->SerializeAsString() == (*m)->SerializeAsString());
    }
    FUZZ_CHECK(reader.pending() <= (1u << 16) + 4 + piece);
  }
  return 0;
}
