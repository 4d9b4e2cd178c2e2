// Text from the export file, which an attacker may have written: taking it apart, and quoting
// it in an error message so that no byte outside printable ASCII (an escape sequence) reaches
// the auditor's terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warden::audit_verify {

// `text` with every byte outside printable ASCII as \xNN.
std::string printableAscii(std::string_view text);
// A short, printable quote of untrusted text for an error message: 'C-escaped', cut at 48 bytes.
std::string quote(std::string_view text);
// Strict decimal: digits only, no sign, no leading zeros (except "0"), fits 64 bits.
std::optional<std::uint64_t> parseDecimal(std::string_view text);

// What follows `prefix` in `s`, when `s` starts with it and has more ("operator:" + NAME).
inline std::optional<std::string_view> afterPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() <= prefix.size() || s.substr(0, prefix.size()) != prefix) return std::nullopt;
  return s.substr(prefix.size());
}

}  // namespace warden::audit_verify
