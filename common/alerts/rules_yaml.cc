#include "common/alerts/rules_yaml.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/alerts/rules.h"
#include "common/duration.h"
#include "common/json.h"

namespace warden::rules_yaml {
namespace {

YAML::Mark markAt(int line, int column) {
  YAML::Mark m;
  m.line = line;
  m.column = column;
  return m;
}

// Streams the document's events and stops (by throwing YAML::ParserException, which parseRules
// catches) at the first thing the rules file may not hold. yaml-cpp reports a collection before
// it descends into it, so the recursion never gets deeper than kMaxDepth + 1.
class PreflightHandler : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) stop(mark, "a rules file is one YAML document (remove the second ---)");
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { node(mark, "", anchor); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { noAnchors(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string&) override {
    node(mark, tag, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, tag, anchor);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, tag, anchor);
  }
  void OnMapEnd() override { --depth_; }
  void OnAnchor(const YAML::Mark& mark, const std::string&) override { noAnchors(mark); }

 private:
  [[noreturn]] static void stop(const YAML::Mark& mark, const std::string& message) {
    throw YAML::ParserException(mark, message);
  }
  [[noreturn]] static void noAnchors(const YAML::Mark& mark) {
    stop(mark, "YAML anchors (&) and aliases (*) are not allowed in a rules file");
  }
  void node(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) noAnchors(mark);
    // "?": a plain node; "!": a quoted scalar. Anything else was written as a tag.
    if (!tag.empty() && tag != "?" && tag != "!") {
      stop(mark, "YAML tags (" + tag + ") are not allowed in a rules file");
    }
    if (++nodes_ > kMaxNodes) {
      stop(mark, absl::StrFormat("more than %d YAML nodes", kMaxNodes));
    }
  }
  void open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor) {
    node(mark, tag, anchor);
    if (++depth_ > kMaxDepth) {
      stop(mark, absl::StrFormat("nested deeper than %d levels", kMaxDepth));
    }
  }

  int documents_ = 0;
  int depth_ = 0;
  std::size_t nodes_ = 0;
};

}  // namespace

absl::Status errorAt(const YAML::Mark& mark, const std::string& path, const std::string& message) {
  const int line = std::max(mark.line, 0) + 1;
  const int column = std::max(mark.column, 0) + 1;
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("line %d, column %d: %s", line, column, message));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("line %d, column %d: %s: %s", line, column, path, message));
}

absl::Status preflight(std::string_view text) {
  if (text.size() > kMaxRulesFileBytes) {
    return errorAt(
        markAt(0, 0), "",
        absl::StrFormat("the rules file is %d bytes; at most %d", text.size(), kMaxRulesFileBytes));
  }
  // yaml-cpp would guess UTF-16 or UTF-32 from a byte order mark or NULs; the file is UTF-8.
  int line = 0;
  int column = 0;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = text[i];
    const std::size_t n = utf8Length(text.substr(i));
    if (n == 0) return errorAt(markAt(line, column), "", "the rules file is not valid UTF-8");
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      return errorAt(markAt(line, column), "",
                     absl::StrFormat("control character \\x%02x in the rules file", c));
    }
    if (c == '\n') {
      ++line;
      column = 0;
    } else {
      column += static_cast<int>(n);
    }
    i += n;
  }
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  PreflightHandler handler;
  while (parser.HandleNextDocument(handler)) {
  }
  return absl::OkStatus();
}

std::string inQuotes(std::string_view v) {
  constexpr std::size_t kLimit = 200;
  std::string out = "'";
  std::size_t i = 0;
  while (i < v.size() && i < kLimit) {
    const TextUnit u = nextTextUnit(v.substr(i));
    if (u.safe) {
      out.append(v.substr(i, u.size));
    } else {
      for (std::size_t k = 0; k < u.size; ++k) {
        absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(v[i + k]));
      }
    }
    i += u.size;
  }
  if (i < v.size()) absl::StrAppend(&out, "...");
  return out + "'";
}

std::string itemPath(const std::string& path, std::size_t i) {
  return absl::StrCat(path, "[", i, "]");
}

std::string keyPath(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

absl::StatusOr<StrictMap> StrictMap::read(const YAML::Node& node, std::string path) {
  StrictMap m;
  m.path_ = std::move(path);
  m.mark_ = node.Mark();
  if (node.IsNull()) return m;
  if (!node.IsMap()) return errorAt(node.Mark(), m.path_, "expected a map (key: value, ...)");
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) return errorAt(key.Mark(), m.path_, "a key must be a plain string");
    const std::string& name = key.Scalar();
    for (const auto& [seen, value] : m.fields_) {
      if (seen == name) return errorAt(key.Mark(), m.path_, "duplicate key " + inQuotes(name));
    }
    m.fields_.emplace_back(name, kv.second);
    m.key_marks_.push_back(key.Mark());
  }
  return m;
}

absl::Status StrictMap::checkKeys(std::initializer_list<std::string_view> known,
                                  std::initializer_list<std::string_view> nullable) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (std::find(known.begin(), known.end(), fields_[i].first) == known.end()) {
      return errorAt(
          key_marks_[i], path_,
          absl::StrCat("unknown key ", inQuotes(fields_[i].first), " (known: ",
                       absl::StrJoin(std::vector<std::string>(known.begin(), known.end()), ", "),
                       ")"));
    }
  }
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].second.IsNull() &&
        std::find(nullable.begin(), nullable.end(), fields_[i].first) == nullable.end()) {
      return errorAt(key_marks_[i], pathOf(fields_[i].first), "expected a value, found nothing");
    }
  }
  return absl::OkStatus();
}

const YAML::Node* StrictMap::find(std::string_view key) const {
  for (const auto& [name, value] : fields_) {
    if (name == key) return &value;
  }
  return nullptr;
}

const YAML::Mark& StrictMap::keyMark(std::string_view key) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].first == key) return key_marks_[i];
  }
  return mark_;
}

absl::StatusOr<std::string> readString(const YAML::Node& node, const std::string& path) {
  if (node.IsNull()) return errorAt(node.Mark(), path, "expected a value, found nothing");
  if (!node.IsScalar()) return errorAt(node.Mark(), path, "expected a string");
  return node.Scalar();
}

absl::StatusOr<std::vector<YAML::Node>> readList(const YAML::Node& node, const std::string& path,
                                                 std::size_t max) {
  if (!node.IsSequence()) {
    return errorAt(node.Mark(), path,
                   node.IsNull() ? "expected a list, found nothing" : "expected a list ([...])");
  }
  std::vector<YAML::Node> items;
  for (const auto& item : node) {
    if (items.size() == max) {
      return errorAt(item.Mark(), path, absl::StrFormat("more than %d items", max));
    }
    items.push_back(item);
  }
  return items;
}

absl::StatusOr<std::int64_t> readDurationMs(const YAML::Node& node, const std::string& path) {
  auto text = readString(node, path);
  if (!text.ok()) return text.status();
  auto d = parseDuration(*text);
  if (!d.ok()) return errorAt(node.Mark(), path, std::string(d.status().message()));
  if (*d < absl::Seconds(1) || *d > absl::Hours(24 * 30)) {
    return errorAt(node.Mark(), path,
                   absl::StrCat("duration ", inQuotes(*text), " is out of range (1s to 30d)"));
  }
  return absl::ToInt64Milliseconds(*d);
}

absl::StatusOr<std::uint32_t> readCount(const YAML::Node& node, const std::string& path) {
  auto text = readString(node, path);
  if (!text.ok()) return text.status();
  std::uint64_t v = 0;
  if (text->empty() || text->size() > 10 ||
      text->find_first_not_of("0123456789") != std::string::npos || !absl::SimpleAtoi(*text, &v) ||
      v > kMaxCount) {
    return errorAt(node.Mark(), path,
                   absl::StrFormat("expected a whole number from 0 to %d, found %s", kMaxCount,
                                   inQuotes(*text)));
  }
  return static_cast<std::uint32_t>(v);
}

}  // namespace warden::rules_yaml
