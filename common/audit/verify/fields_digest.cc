#include "common/audit/verify/fields_digest.h"

#include <cstddef>
#include <cstring>
#include <functional>

#include "common/crypto/hash.h"

namespace warden::audit_verify {
namespace {

void appendLength(std::string& out, std::size_t n) {
  for (int i = 0; i < 8; ++i) {
    out += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff);
  }
}

}  // namespace

// Length-prefixed, so no two different field sets serialize alike.
FieldsDigest digestFields(std::string& scratch, std::string_view incident,
                          const std::vector<std::string>& args,
                          const std::vector<std::string>& allow,
                          const std::vector<std::string>& addresses) {
  FieldsDigest d;
  scratch.clear();
  std::array<std::size_t, 5> bounds{};
  appendLength(scratch, incident.size());
  scratch.append(incident);
  bounds[1] = scratch.size();
  const std::vector<std::string>* lists[] = {&args, &allow, &addresses};
  for (int f = 0; f < 3; ++f) {
    appendLength(scratch, lists[f]->size());
    for (const auto& item : *lists[f]) {
      appendLength(scratch, item.size());
      scratch.append(item);
    }
    bounds[f + 2] = scratch.size();
  }
  const std::string sha = crypto::sha256(scratch);
  std::memcpy(d.all.data(), sha.data(), d.all.size());
  const std::string_view all(scratch);
  for (int f = 0; f < 4; ++f) {
    d.field[f] = static_cast<std::uint32_t>(
        std::hash<std::string_view>{}(all.substr(bounds[f], bounds[f + 1] - bounds[f])));
  }
  return d;
}

}  // namespace warden::audit_verify
