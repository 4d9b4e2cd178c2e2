// splitCmdline / joinedCmdline: /proc/PID/cmdline, which a process may rewrite to anything.
// The arguments joined by NULs give back the text (less one final NUL); the one-line form holds
// no NUL and is the text with its trailing NULs dropped and the others spaced.
#include "absl/strings/str_join.h"
#include "agent/os/linux/procfs.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  std::string_view text = fuzz::asText(data, size);
  const std::vector<std::string> argv = splitCmdline(text);
  std::string_view body = text;
  if (!body.empty() && body.back() == '\0') body.remove_suffix(1);
  FUZZ_CHECK(absl::StrJoin(argv, std::string(1, '\0')) == body);
  FUZZ_CHECK(argv.empty() == body.empty());

  const std::string line = joinedCmdline(text);
  FUZZ_CHECK(line.find('\0') == std::string::npos);
  std::string_view trimmed = text;
  while (!trimmed.empty() && trimmed.back() == '\0') trimmed.remove_suffix(1);
  FUZZ_CHECK(line.size() == trimmed.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    FUZZ_CHECK(line[i] == (trimmed[i] == '\0' ? ' ' : trimmed[i]));
  }
  return 0;
}
