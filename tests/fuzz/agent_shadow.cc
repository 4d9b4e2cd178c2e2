// ShadowFile::parse, parseShadowLine and decodeLockRecord: /etc/shadow and the agent's own lock
// records. A file that parses serializes back byte for byte (an edit never rewrites a line it
// did not touch); locking then unlocking an entry gives it back exactly; a lock record that
// decodes encodes to the same bytes.
#include "agent/actions/shadow_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);

  if (auto file = ShadowFile::parse(text); file.ok()) {
    FUZZ_CHECK(file->serialize() == text);
    for (const ShadowEntry& e : file->entries()) {
      FUZZ_CHECK(file->find(e.name()) == &e);
      auto again = parseShadowLine(e.line());
      FUZZ_CHECK(again.ok() && *again == e);
      const ShadowEntry locked = lockedEntry(e);
      FUZZ_CHECK(locked.name() == e.name() && lockedEntry(locked) == locked);
      auto locked_again = parseShadowLine(locked.line());
      FUZZ_CHECK(locked_again.ok() && *locked_again == locked);
      const LockRecord record{e, locked};
      FUZZ_CHECK(unlockedEntry(locked, record) == e);
      auto decoded = decodeLockRecord(encodeLockRecord(record));
      FUZZ_CHECK(decoded.ok() && decoded->before == e && decoded->locked == locked);
    }
  }
  if (auto line = parseShadowLine(text); line.ok()) FUZZ_CHECK(line->line() == text);
  if (auto record = decodeLockRecord(text); record.ok()) {
    FUZZ_CHECK(encodeLockRecord(*record) == text);
  }
  return 0;
}
