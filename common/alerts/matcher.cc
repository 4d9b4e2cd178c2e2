#include "common/alerts/matcher.h"

#include <re2/re2.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/alerts/alert.h"
#include "common/json.h"

namespace warden {
namespace {

// RE2 is linear in time; this bounds its memory too (a hostile `a{1000}{1000}` fails to compile
// instead of taking hundreds of MiB). Alertmanager's own rules are far below it.
constexpr std::int64_t kRegexMaxMem = 1 << 20;

bool isAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Prometheus label names ([a-zA-Z_:][a-zA-Z0-9_:]*, as Alertmanager's parser reads them) plus
// '.', '[' and ']', so Falco's output fields are matchable unquoted:
// `output_fields.proc.name`, `output_fields.ka.uri.param[command]`.
bool isNameStart(char c) { return isAsciiLetter(c) || c == '_' || c == ':'; }
bool isNameChar(char c) {
  return isNameStart(c) || isAsciiDigit(c) || c == '.' || c == '[' || c == ']';
}

bool isBareName(std::string_view n) {
  if (n.empty() || !isNameStart(n[0])) return false;
  for (char c : n) {
    if (!isNameChar(c)) return false;
  }
  return true;
}

// Go's \s, as in Alertmanager's matcher regexp.
bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string_view trimSpace(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

absl::Status invalid(const std::string& what) { return absl::InvalidArgumentError(what); }

// The text of a name or value, quoted or not, with its escapes resolved: \" \\ \n \t; any other
// backslash stays literal, as Alertmanager reads `instance=~"host-\d+"`. An unquoted text may not
// hold a double quote; a quoted one only as \" and, unescaped, as its last character.
absl::StatusOr<std::string> unquote(std::string_view raw, const char* what) {
  const bool quoted = !raw.empty() && raw.front() == '"';
  bool closed = false;
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = quoted ? 1 : 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '"') {
      if (!quoted || i + 1 != raw.size()) {
        return invalid(absl::StrCat(what, " contains an unescaped double quote"));
      }
      closed = true;
      break;
    }
    if (c != '\\' || i + 1 == raw.size()) {
      out += c;
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case '"':
      case '\\':
        out += e;
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      default:
        out += '\\';
        out += e;
    }
  }
  if (quoted && !closed) return invalid(absl::StrCat(what, " has no closing double quote"));
  if (!validUtf8(out)) return invalid(absl::StrCat(what, " is not valid UTF-8"));
  if (out.size() > kMaxLabelBytes) {
    return invalid(absl::StrFormat("%s is longer than %d bytes", what, kMaxLabelBytes));
  }
  return out;
}

std::string quote(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

const char* opText(Matcher::Op op) {
  switch (op) {
    case Matcher::Op::kEqual:
      return "=";
    case Matcher::Op::kNotEqual:
      return "!=";
    case Matcher::Op::kRegex:
      return "=~";
    case Matcher::Op::kNotRegex:
      return "!~";
  }
  return "=";
}

RE2::Options regexOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(kRegexMaxMem);
  return o;
}

}  // namespace

absl::StatusOr<Matcher> Matcher::parse(std::string_view text) {
  std::string_view s = trimSpace(text);
  // The name: up to the first space or operator character. A quoted name (Alertmanager 0.27's
  // UTF-8 matchers) ends at its closing quote.
  std::size_t name_end = 0;
  if (!s.empty() && s[0] == '"') {
    name_end = 1;
    while (name_end < s.size() && s[name_end] != '"') name_end += s[name_end] == '\\' ? 2 : 1;
    if (name_end >= s.size()) return invalid("label name has no closing double quote");
    ++name_end;
  } else {
    while (name_end < s.size() && !isSpace(s[name_end]) && s[name_end] != '=' &&
           s[name_end] != '!') {
      ++name_end;
    }
  }
  const std::string_view raw_name = s.substr(0, name_end);
  std::string_view rest = trimSpace(s.substr(name_end));

  Matcher m;
  if (rest.starts_with("=~")) {
    m.op_ = Op::kRegex;
  } else if (rest.starts_with("!=")) {
    m.op_ = Op::kNotEqual;
  } else if (rest.starts_with("!~")) {
    m.op_ = Op::kNotRegex;
  } else if (rest.starts_with("=")) {
    m.op_ = Op::kEqual;
  } else {
    return invalid("expected name, then =, !=, =~ or !~, then a value");
  }
  rest = trimSpace(rest.substr(m.op_ == Op::kEqual ? 1 : 2));

  if (raw_name.empty()) return invalid("missing label name");
  if (raw_name[0] == '"') {
    auto name = unquote(raw_name, "label name");
    if (!name.ok()) return name.status();
    if (name->empty()) return invalid("empty label name");
    m.name_ = std::move(*name);
  } else if (isBareName(raw_name)) {
    m.name_ = std::string(raw_name);
  } else {
    return invalid(
        "bad label name (letters, digits, _ : . [ ], not starting with a digit; or in double "
        "quotes)");
  }
  if (m.name_.size() > kMaxLabelBytes) {
    return invalid(absl::StrFormat("label name is longer than %d bytes", kMaxLabelBytes));
  }

  auto value = unquote(rest, "value");
  if (!value.ok()) return value.status();
  m.value_ = std::move(*value);

  if (m.op_ == Op::kRegex || m.op_ == Op::kNotRegex) {
    const RE2::Options options = regexOptions();
    // Compiled alone first: the error names the admin's text, and a value such as `a)|(b`,
    // which would escape the anchors below, is refused.
    RE2 alone(m.value_, options);
    if (!alone.ok()) return invalid(alone.error());
    auto re = std::make_shared<const RE2>(absl::StrCat("^(?:", m.value_, ")$"), options);
    if (!re->ok()) return invalid(re->error());
    m.re_ = std::move(re);
  }
  return m;
}

bool Matcher::matches(const std::map<std::string, std::string>& labels) const {
  const auto it = labels.find(name_);
  const std::string empty;
  const std::string& v = it == labels.end() ? empty : it->second;
  switch (op_) {
    case Op::kEqual:
      return v == value_;
    case Op::kNotEqual:
      return v != value_;
    case Op::kRegex:
      return RE2::PartialMatch(v, *re_);
    case Op::kNotRegex:
      return !RE2::PartialMatch(v, *re_);
  }
  return false;
}

int Matcher::programSize() const { return re_ ? re_->ProgramSize() : 0; }

std::string Matcher::toString() const {
  return absl::StrCat(isBareName(name_) ? name_ : quote(name_), opText(op_), quote(value_));
}

}  // namespace warden
