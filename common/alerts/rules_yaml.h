// Strict YAML for the rules file (rules.h), on top of yaml-cpp: the checks that run before
// yaml-cpp builds a tree, errors that name a line and column, and readers that refuse what the
// schema does not say. Internal to parseRules (rules.cc, rules_guardrails.cc).
//
// yaml-cpp 0.7 has two hazards with hostile text, and the verifier re-parses every logged
// version of the rules file: its parser recurses once per nesting level (deep nesting overflows
// the stack; its own DepthGuard only stops at 2000 levels, too deep under ASan), and aliases
// share nodes, so nine nested aliases of nine-element lists ("billion laughs") are small as text
// and as a tree yet huge to walk. So preflight() first streams the text through yaml-cpp's
// event parser, which reports each collection before descending into it, and stops at
// kMaxDepth levels, at kMaxNodes nodes, at any anchor (&), alias (*) or explicit tag (!!str,
// !foo), and at a second document. Only text that passes is loaded as a tree.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::rules_yaml {

// The rules schema is 5 levels deep (file, rules, rule, with, allow); flow style can add one.
inline constexpr int kMaxDepth = 10;
// 256 rules of ~250 nodes each fit; a 256 KiB file of `[a,a,a,...]` does not.
inline constexpr std::size_t kMaxNodes = 1 << 17;

// InvalidArgument "line L, column C: PATH: MESSAGE" (1-based; yaml-cpp's marks are 0-based; a
// mark yaml-cpp did not set counts as the start of the file).
absl::Status errorAt(const YAML::Mark& mark, const std::string& path, const std::string& message);

// The size bound, UTF-8, no control characters but tab, CR and LF, and the streaming checks
// above. OK when yaml-cpp may build the tree.
absl::Status preflight(std::string_view text);

// Text from the file, for a message: in single quotes, cut at 200 bytes, controls and bytes that
// are not UTF-8 as \xNN.
std::string inQuotes(std::string_view v);

// "path[i]" and "path.key" ("key" at the top).
std::string itemPath(const std::string& path, std::size_t i);
std::string keyPath(const std::string& path, const std::string& key);

// A YAML map whose keys are strings, each given once, in the file's order.
class StrictMap {
 public:
  // A null node (`key:` with nothing after it) reads as an empty map.
  static absl::StatusOr<StrictMap> read(const YAML::Node& node, std::string path);

  // The first key not in `known`, as an error listing the known keys; then the first key with
  // nothing after it (`name:`) but those in `nullable`, as an error at the key (yaml-cpp marks an
  // empty value where the next token starts, often the next line).
  absl::Status checkKeys(std::initializer_list<std::string_view> known,
                         std::initializer_list<std::string_view> nullable = {}) const;
  // nullptr when the key is absent.
  const YAML::Node* find(std::string_view key) const;
  const YAML::Mark& keyMark(std::string_view key) const;
  const std::vector<std::pair<std::string, YAML::Node>>& fields() const { return fields_; }
  const YAML::Mark& mark() const { return mark_; }
  const std::string& path() const { return path_; }
  std::string pathOf(std::string_view key) const { return keyPath(path_, std::string(key)); }

 private:
  std::string path_;
  YAML::Mark mark_;
  std::vector<std::pair<std::string, YAML::Node>> fields_;
  std::vector<YAML::Mark> key_marks_;
};

// A scalar's text (quoted or not); null, a list or a map is an error.
absl::StatusOr<std::string> readString(const YAML::Node& node, const std::string& path);
// A sequence of at most `max` items; null, a scalar or a map is an error.
absl::StatusOr<std::vector<YAML::Node>> readList(const YAML::Node& node, const std::string& path,
                                                 std::size_t max);
// A duration as warden's flags take it (common/duration.h), from 1s to 30d, in milliseconds.
absl::StatusOr<std::int64_t> readDurationMs(const YAML::Node& node, const std::string& path);
// A count: decimal digits, 0 to kMaxCount.
inline constexpr std::uint32_t kMaxCount = 1'000'000;
absl::StatusOr<std::uint32_t> readCount(const YAML::Node& node, const std::string& path);

}  // namespace warden::rules_yaml
