#include "common/alerts/rules.h"

#include <exception>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/alerts/rules_action.h"
#include "common/alerts/rules_guardrails.h"
#include "common/alerts/rules_yaml.h"

namespace warden {
namespace {

using rules_yaml::errorAt;
using rules_yaml::inQuotes;
using rules_yaml::itemPath;
using rules_yaml::StrictMap;

constexpr std::size_t kMaxMatchers = 64;
// RE2 instructions of all the file's regular expressions together (about 16 bytes each): each
// regex is bounded alone (matcher.cc), but 16384 of them at that bound would take gigabytes.
// Alertmanager-style alternations take tens of instructions each.
constexpr std::int64_t kMaxRegexProgramTotal = 1 << 21;
constexpr std::size_t kMaxHostFrom = 16;
constexpr std::size_t kMaxSenders = 64;

struct FormatName {
  std::string_view name;
  AlertFormat format;
};
constexpr FormatName kFormats[] = {
    {"alertmanager", AlertFormat::kAlertmanager},
    {"falco", AlertFormat::kFalco},
    {"json", AlertFormat::kJson},
};

struct ModeName {
  std::string_view name;
  RuleMode mode;
};
constexpr ModeName kModes[] = {
    {"dry-run", RuleMode::kDryRun},
    {"approve", RuleMode::kApprove},
    {"enforce", RuleMode::kEnforce},
};

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Rule names and sender (source) names: [a-z0-9][a-z0-9._-]{0,63}.
bool validName(std::string_view n) {
  if (n.empty() || n.size() > 64 || !isLowerAlnum(n[0])) return false;
  for (char c : n) {
    if (!isLowerAlnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

absl::Status readFormats(const YAML::Node& node, const std::string& path, AlertRule& rule) {
  std::vector<std::pair<YAML::Node, std::string>> items;  // node, its path
  if (node.IsSequence()) {
    auto list = rules_yaml::readList(node, path, std::size(kFormats));
    if (!list.ok()) return list.status();
    if (list->empty()) {
      return errorAt(node.Mark(), path, "an empty list matches nothing; omit format for any");
    }
    for (std::size_t i = 0; i < list->size(); ++i)
      items.emplace_back((*list)[i], itemPath(path, i));
  } else {
    items.emplace_back(node, path);
  }
  for (const auto& [item, item_path] : items) {
    auto text = rules_yaml::readString(item, item_path);
    if (!text.ok()) return text.status();
    const FormatName* found = nullptr;
    for (const FormatName& f : kFormats) {
      if (f.name == *text) found = &f;
    }
    if (found == nullptr) {
      return errorAt(
          item.Mark(), item_path,
          absl::StrCat("unknown format ", inQuotes(*text), " (alertmanager | falco | json)"));
    }
    for (AlertFormat seen : rule.formats) {
      if (seen == found->format) {
        return errorAt(item.Mark(), item_path, inQuotes(*text) + " is listed twice");
      }
    }
    rule.formats.push_back(found->format);
  }
  return absl::OkStatus();
}

absl::Status readSenders(const YAML::Node& node, const std::string& path, AlertRule& rule) {
  auto list = rules_yaml::readList(node, path, kMaxSenders);
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return errorAt(node.Mark(), path, "an empty list matches nothing; omit senders for any");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const YAML::Node& item = (*list)[i];
    auto name = rules_yaml::readString(item, itemPath(path, i));
    if (!name.ok()) return name.status();
    if (!validName(*name)) {
      return errorAt(
          item.Mark(), itemPath(path, i),
          absl::StrCat(inQuotes(*name), " is not a source name ([a-z0-9][a-z0-9._-], at most 64)"));
    }
    for (const std::string& seen : rule.senders) {
      if (seen == *name)
        return errorAt(item.Mark(), itemPath(path, i), inQuotes(*name) + " is listed twice");
    }
    rule.senders.push_back(*name);
  }
  return absl::OkStatus();
}

absl::Status readMatch(const YAML::Node& node, const std::string& path, AlertRule& rule,
                       std::int64_t& program_total) {
  auto list = rules_yaml::readList(node, path, kMaxMatchers);
  if (!list.ok()) return list.status();
  for (std::size_t i = 0; i < list->size(); ++i) {
    const YAML::Node& item = (*list)[i];
    auto text = rules_yaml::readString(item, itemPath(path, i));
    if (!text.ok()) return text.status();
    auto m = Matcher::parse(*text);
    if (!m.ok()) {
      return errorAt(item.Mark(), itemPath(path, i),
                     absl::StrCat("bad matcher ", inQuotes(*text), ": ", m.status().message()));
    }
    program_total += m->programSize();
    if (program_total > kMaxRegexProgramTotal) {
      return errorAt(item.Mark(), itemPath(path, i),
                     absl::StrFormat("the file's regular expressions together are too large "
                                     "(more than %d RE2 instructions)",
                                     kMaxRegexProgramTotal));
    }
    rule.match.push_back(std::move(*m));
  }
  return absl::OkStatus();
}

absl::Status readHostFrom(const YAML::Node& node, const std::string& path, AlertRule& rule) {
  auto list = rules_yaml::readList(node, path, kMaxHostFrom);
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return errorAt(node.Mark(), path, "name at least one label that names the host");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const YAML::Node& item = (*list)[i];
    auto name = readLabelName(item, itemPath(path, i));
    if (!name.ok()) return name.status();
    for (const std::string& seen : rule.host_from) {
      if (seen == *name)
        return errorAt(item.Mark(), itemPath(path, i), inQuotes(*name) + " is listed twice");
    }
    rule.host_from.push_back(*name);
  }
  return absl::OkStatus();
}

absl::StatusOr<AlertRule> parseRule(const YAML::Node& node, const std::string& path,
                                    std::int64_t& program_total) {
  if (!node.IsMap()) return errorAt(node.Mark(), path, "expected a rule (a map with name, ...)");
  auto map = StrictMap::read(node, path);
  if (!map.ok()) return map.status();
  if (auto st = map->checkKeys(
          {"name", "format", "senders", "match", "host_from", "action", "with", "mode"}, {"with"});
      !st.ok()) {
    return st;
  }
  AlertRule rule;
  rule.line = std::max(node.Mark().line, 0) + 1;

  const YAML::Node* name = map->find("name");
  if (name == nullptr) return errorAt(map->mark(), path, "name is required");
  auto name_text = rules_yaml::readString(*name, map->pathOf("name"));
  if (!name_text.ok()) return name_text.status();
  if (name_text->empty()) return errorAt(name->Mark(), map->pathOf("name"), "name is empty");
  if (!validName(*name_text)) {
    return errorAt(name->Mark(), map->pathOf("name"),
                   absl::StrCat(inQuotes(*name_text),
                                " is not a rule name ([a-z0-9][a-z0-9._-], at most 64)"));
  }
  rule.name = *name_text;

  if (const YAML::Node* v = map->find("format")) {
    if (auto st = readFormats(*v, map->pathOf("format"), rule); !st.ok()) return st;
  }
  if (const YAML::Node* v = map->find("senders")) {
    if (auto st = readSenders(*v, map->pathOf("senders"), rule); !st.ok()) return st;
  }
  if (const YAML::Node* v = map->find("match")) {
    if (auto st = readMatch(*v, map->pathOf("match"), rule, program_total); !st.ok()) return st;
  }
  const YAML::Node* host_from = map->find("host_from");
  if (host_from == nullptr) {
    return errorAt(map->mark(), path,
                   "host_from is required (the labels that name the host, in order)");
  }
  if (auto st = readHostFrom(*host_from, map->pathOf("host_from"), rule); !st.ok()) return st;
  if (auto st = readAction(*map, rule); !st.ok()) return st;

  if (const YAML::Node* v = map->find("mode")) {
    auto mode = rules_yaml::readString(*v, map->pathOf("mode"));
    if (!mode.ok()) return mode.status();
    const ModeName* found = nullptr;
    for (const ModeName& m : kModes) {
      if (m.name == *mode) found = &m;
    }
    if (found == nullptr) {
      return errorAt(
          v->Mark(), map->pathOf("mode"),
          absl::StrCat("unknown mode ", inQuotes(*mode), " (dry-run | approve | enforce)"));
    }
    rule.mode = found->mode;
  }
  return rule;
}

absl::StatusOr<RuleSet> parseChecked(std::string_view text) {
  if (auto st = rules_yaml::preflight(text); !st.ok()) return st;
  const YAML::Node root = YAML::Load(std::string(text));
  RuleSet set;
  if (root.IsNull()) return set;  // empty, or only comments: no rules
  if (!root.IsMap()) {
    return errorAt(root.Mark(), "", "expected a map with rules, guardrails and notify");
  }
  auto top = StrictMap::read(root, "");
  if (!top.ok()) return top.status();
  if (auto st =
          top->checkKeys({"rules", "guardrails", "notify"}, {"rules", "guardrails", "notify"});
      !st.ok()) {
    return st;
  }

  if (const YAML::Node* rules = top->find("rules"); rules != nullptr && !rules->IsNull()) {
    auto items = rules_yaml::readList(*rules, "rules", kMaxRules);
    if (!items.ok()) return items.status();
    std::map<std::string, int> lines;  // name -> line of its rule
    std::int64_t program_total = 0;
    for (std::size_t i = 0; i < items->size(); ++i) {
      auto rule = parseRule((*items)[i], itemPath("rules", i), program_total);
      if (!rule.ok()) return rule.status();
      const auto [it, inserted] = lines.emplace(rule->name, rule->line);
      if (!inserted) {
        return errorAt((*items)[i].Mark(), itemPath("rules", i),
                       absl::StrFormat("duplicate rule name %s (first at line %d)",
                                       inQuotes(rule->name), it->second));
      }
      set.rules.push_back(std::move(*rule));
    }
  }
  if (const YAML::Node* g = top->find("guardrails")) {
    auto guardrails = parseGuardrails(*g);
    if (!guardrails.ok()) return guardrails.status();
    set.guardrails = std::move(*guardrails);
  }
  if (const YAML::Node* n = top->find("notify")) {
    auto notify = parseNotify(*n);
    if (!notify.ok()) return notify.status();
    set.notify = std::move(*notify);
  }
  return set;
}

}  // namespace

const char* ruleModeName(RuleMode m) {
  switch (m) {
    case RuleMode::kDryRun:
      return "dry-run";
    case RuleMode::kApprove:
      return "approve";
    case RuleMode::kEnforce:
      return "enforce";
  }
  return "dry-run";
}

absl::StatusOr<RuleSet> parseRules(std::string_view yaml) {
  // yaml-cpp reports errors by throwing; none leaves this function (STYLE.md "Errors").
  try {
    return parseChecked(yaml);
  } catch (const YAML::Exception& e) {
    return errorAt(e.mark, "", e.msg);
  } catch (const std::exception& e) {
    return errorAt(YAML::Mark::null_mark(), "",
                   absl::StrCat("cannot read the rules file: ", e.what()));
  }
}

}  // namespace warden
