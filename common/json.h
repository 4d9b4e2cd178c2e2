// JSON, read and written with nlohmann-json everywhere (DESIGN.md, Dependencies): the CLI's
// --json output, the agent's evidence manifests and triage tables, the controller's custody
// records. `Json` keeps keys in insertion order, so what Warden writes reads in a fixed order.
// Text from a host may not be UTF-8: dumpJson() replaces what is not by U+FFFD, so the
// document always parses.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

using Json = nlohmann::ordered_json;

// Length of the UTF-8 sequence at the start of `v` (1-4), or 0 when it is not valid UTF-8
// (overlong forms and surrogates included). `v` must not be empty.
std::size_t utf8Length(std::string_view v);
bool validUtf8(std::string_view v);

// The unit of text at the start of `v` (not empty): its length in bytes and whether a terminal
// or a log line shows it as itself. Not safe: a byte that does not start valid UTF-8 (size 1),
// C0 controls, DEL, C1 controls (U+0080-U+009F, e.g. CSI) and bidi overrides (U+202A-U+202E,
// U+2066-U+2069), which rewrite what a terminal shows.
struct TextUnit {
  std::size_t size = 1;
  bool safe = false;
};
TextUnit nextTextUnit(std::string_view v);

// `j` as text: compact when `indent` is negative, else pretty-printed with that many spaces.
// Invalid UTF-8 in strings becomes U+FFFD.
std::string dumpJson(const Json& j, int indent = -1);

// How a document is laid out as text, for the few that people also read and grep line by line
// (the triage manifest, the evidence manifest, the CLI's one-line --json answers). Whatever the
// layout, strings are escaped by nlohmann-json as in dumpJson().
struct JsonLayout {
  bool spaced = false;          // ", " and ": " between items; otherwise compact
  bool field_per_line = false;  // each field of the top-level object on a line of its own
  std::string rows_key;         // the array under this top-level key: one element per line...
  std::string row_indent;       // ...each after this indent

  static JsonLayout spacedLine() {
    JsonLayout l;
    l.spaced = true;
    return l;
  }
};
std::string dumpJson(const Json& j, const JsonLayout& layout);

// Parses `text` as one JSON document; the error says where it stopped, prefixed by `what`.
absl::StatusOr<Json> parseJson(std::string_view text, std::string_view what);

}  // namespace warden
