// One label matcher in Alertmanager's syntax (prometheus/alertmanager pkg/labels): `name="value"`,
// `name!="value"`, `name=~"regex"`, `name!~"regex"`. Regular expressions are RE2 (linear time)
// and anchored at both ends, as in Alertmanager and Prometheus; a label the alert lacks matches
// as the empty string, so `severity!="info"` holds for an alert with no severity.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace warden {

class Matcher {
 public:
  enum class Op { kEqual, kNotEqual, kRegex, kNotRegex };

  // `text` as in a rules file: name, operator, then the value in double quotes (Go string
  // escapes \" \\ \n \t) or, as Alertmanager also accepts, unquoted up to the end. A backslash
  // before any other character stays, as Alertmanager reads it (`instance=~"host-\d+"`). The name
  // is a Prometheus label name plus '.', '[' and ']', so Falco's output fields match unquoted
  // (`output_fields.ka.uri.param[command]`); any other name goes in double quotes, as in
  // Alertmanager 0.27's UTF-8 matchers (`"output_fields.k8s.pod.label[app.kubernetes.io/name]"`).
  // An invalid regex is an error with RE2's message; so is one needing more than 1 MiB.
  static absl::StatusOr<Matcher> parse(std::string_view text);

  bool matches(const std::map<std::string, std::string>& labels) const;

  const std::string& name() const { return name_; }
  Op op() const { return op_; }
  const std::string& value() const { return value_; }
  // Back in the syntax parse() reads: `name=~"value"`, the value quoted and escaped.
  std::string toString() const;
  // The compiled regex's size in RE2 instructions (0 for = and !=): what holding it costs, so a
  // rules file can bound the sum (one regex alone is bounded by RE2's max_mem).
  int programSize() const;

 private:
  std::string name_;
  Op op_ = Op::kEqual;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;  // for kRegex, kNotRegex: ^(?:value)$
};

}  // namespace warden
