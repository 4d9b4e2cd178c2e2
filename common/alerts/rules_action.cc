#include "common/alerts/rules_action.h"

#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/alerts/alert.h"
#include "common/json.h"
#include "common/net.h"

namespace warden {
namespace {

using rules_yaml::errorAt;
using rules_yaml::inQuotes;
using rules_yaml::itemPath;
using rules_yaml::StrictMap;

// As many as a person's request may carry (controller/dispatch/request_policy.cc).
constexpr std::size_t kMaxAllowEntries = 64;

// What automation may do, and the one `with` argument each action needs or takes (policy as
// data; DESIGN.md "Automation"). Timed release (`for`) is not there: it does not exist yet.
struct ActionArgs {
  std::string_view action;
  std::string_view required;  // a label name the action reads its target from
  std::string_view optional;
};
constexpr ActionArgs kActions[] = {
    {"isolate", "", "allow"},
    {"kill-sessions", "user_from", ""},
    {"block", "address_from", ""},
    {"collect", "", ""},
};

bool validLabelName(std::string_view n) {
  if (n.empty() || n.size() > kMaxLabelBytes || !validUtf8(n)) return false;
  for (std::size_t i = 0; i < n.size();) {
    const TextUnit u = nextTextUnit(n.substr(i));
    if (!u.safe) return false;
    i += u.size;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> readLabelName(const YAML::Node& node, const std::string& path) {
  auto name = rules_yaml::readString(node, path);
  if (!name.ok()) return name.status();
  if (!validLabelName(*name)) {
    return errorAt(node.Mark(), path,
                   absl::StrCat(inQuotes(*name),
                                " is not a label name (non-empty, no control characters, at most ",
                                kMaxLabelBytes, " bytes)"));
  }
  return name;
}

absl::Status readAction(const StrictMap& map, AlertRule& rule) {
  const YAML::Node* node = map.find("action");
  if (node == nullptr) {
    return errorAt(map.mark(), map.path(),
                   "action is required (isolate | kill-sessions | block | collect)");
  }
  auto action = rules_yaml::readString(*node, map.pathOf("action"));
  if (!action.ok()) return action.status();
  const ActionArgs* args = nullptr;
  for (const ActionArgs& a : kActions) {
    if (a.action == *action) args = &a;
  }
  if (*action == "shutdown" || *action == "image") {
    return errorAt(node->Mark(), map.pathOf("action"),
                   absl::StrCat(*action,
                                ": shutdown and imaging are never automated (DESIGN.md "
                                "\"Automation\"); an operator runs them"));
  }
  if (args == nullptr) {
    return errorAt(node->Mark(), map.pathOf("action"),
                   absl::StrCat("unknown action ", inQuotes(*action),
                                " (isolate | kill-sessions | block | collect)"));
  }
  rule.action = *action;

  const std::string with_path = map.pathOf("with");
  const YAML::Node* with_node = map.find("with");
  auto with = StrictMap::read(with_node ? *with_node : YAML::Node(), with_path);
  if (!with.ok()) return with.status();
  for (const auto& [key, value] : with->fields()) {
    if (key == "for") {
      return errorAt(with->keyMark(key), with_path,
                     "timed release (for) is not supported yet: an automated action stays until "
                     "an operator releases it");
    }
    const bool takes_it = !key.empty() && (key == args->required || key == args->optional);
    if (!takes_it) {
      std::vector<std::string> takes;
      if (!args->required.empty()) takes.emplace_back(args->required);
      if (!args->optional.empty()) takes.emplace_back(args->optional);
      return errorAt(
          with->keyMark(key), with_path,
          absl::StrCat(inQuotes(key), " is not an argument of ", rule.action, " (it takes ",
                       takes.empty() ? "none" : absl::StrJoin(takes, ", "), ")"));
    }
  }
  // Every key is now one the action takes; none may be empty.
  if (auto st = with->checkKeys({args->required, args->optional}); !st.ok()) return st;
  if (!args->required.empty() && with->find(args->required) == nullptr) {
    return errorAt(with_node ? with->mark() : map.mark(), with_node ? with_path : map.path(),
                   absl::StrCat(rule.action, " needs with: {", std::string(args->required),
                                ": LABEL} (the label that names its target)"));
  }
  if (const YAML::Node* v = with->find("user_from")) {
    auto label = readLabelName(*v, with->pathOf("user_from"));
    if (!label.ok()) return label.status();
    rule.user_from = *label;
  }
  if (const YAML::Node* v = with->find("address_from")) {
    auto label = readLabelName(*v, with->pathOf("address_from"));
    if (!label.ok()) return label.status();
    rule.address_from = *label;
  }
  if (const YAML::Node* v = with->find("allow")) {
    const std::string path = with->pathOf("allow");
    auto list = rules_yaml::readList(*v, path, kMaxAllowEntries);
    if (!list.ok()) return list.status();
    for (std::size_t i = 0; i < list->size(); ++i) {
      const YAML::Node& item = (*list)[i];
      auto text = rules_yaml::readString(item, itemPath(path, i));
      if (!text.ok()) return text.status();
      auto entry = AllowEntry::parse(*text);
      if (!entry.ok()) {
        return errorAt(
            item.Mark(), itemPath(path, i),
            absl::StrCat("bad allow entry ", inQuotes(*text), ": ", entry.status().message()));
      }
      rule.allow.push_back(entry->toString());
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
