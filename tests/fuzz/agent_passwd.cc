// PasswdFile::parse and parseLoginDefs: /etc/passwd and /etc/login.defs, which pick the
// accounts `lock --all` touches. Names are unique and found; the accounts chosen are sorted,
// distinct, parsed entries with a real shell; the UID range comes back whatever the text.
#include <algorithm>

#include "agent/actions/shadow_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);
  const UidRange range = parseLoginDefs(text);
  if (auto file = PasswdFile::parse(text); file.ok()) {
    for (const PasswdEntry& e : file->entries()) {
      FUZZ_CHECK(file->find(e.name) == &e);
      FUZZ_CHECK(e.name.find(':') == std::string::npos && e.shell.find('\n') == std::string::npos);
    }
    for (const UidRange r : {range, UidRange{}}) {
      const std::vector<std::string> chosen = loginAccounts(*file, r);
      FUZZ_CHECK(std::is_sorted(chosen.begin(), chosen.end()));
      FUZZ_CHECK(std::adjacent_find(chosen.begin(), chosen.end()) == chosen.end());
      for (const std::string& name : chosen) {
        const PasswdEntry* e = file->find(name);
        FUZZ_CHECK(e != nullptr && isRealShell(e->shell));
        FUZZ_CHECK(e->uid == 0 || (e->uid >= r.min && e->uid <= r.max));
      }
    }
  }
  return 0;
}
