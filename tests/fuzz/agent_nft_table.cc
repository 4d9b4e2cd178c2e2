// parseTable / compareShapes: the text nft lists for Warden's table, which an attacker with
// root on the host may have changed. A text compares equal to itself; any two texts compare
// without throwing (the comparison only ever says "different": FailedPrecondition).
#include "agent/nft_table_shape.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const auto [script, listing] = fuzz::splitAtNul(fuzz::asText(data, size));
  for (const char* table : {"warden", "warden_owned"}) {
    const TableShape shape = parseTable(listing, "inet", table);
    FUZZ_CHECK(shape.chain_rules.size() <= shape.chain_order.size());
    FUZZ_CHECK(shape.set_elements.size() <= shape.set_order.size());
    // Our script says "priority -300;" where nft lists "priority raw;": the one difference
    // the comparison forgives.
    for (const std::string* text : {&script, &listing}) {
      if (text->find("-300") == std::string::npos) {
        FUZZ_CHECK(compareShapes(*text, *text, "inet", table).ok());
      }
    }
    const absl::Status st = compareShapes(script, listing, "inet", table);
    FUZZ_CHECK(st.ok() || absl::IsFailedPrecondition(st));
  }
  return 0;
}
