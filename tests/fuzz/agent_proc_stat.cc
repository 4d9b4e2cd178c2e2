// parseProcStat: /proc/PID/stat, whose comm (up to the last ')') the process chose. A parse
// that succeeds names a comm that is the text between the first '(' and the last ')'; ttyName
// of its tty_nr is a short, printable name.
#include "agent/os/linux/procfs.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string text(fuzz::asText(data, size));
  ProcStat st;
  if (!parseProcStat(text, &st)) return 0;
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  FUZZ_CHECK(open != std::string::npos && close != std::string::npos && open < close);
  FUZZ_CHECK(st.comm == text.substr(open + 1, close - open - 1));
  const std::string tty = ttyName(static_cast<unsigned>(st.tty_nr));
  FUZZ_CHECK(tty.size() <= 24);
  for (const char c : tty) FUZZ_CHECK(c > ' ' && c < 0x7f);
  return 0;
}
