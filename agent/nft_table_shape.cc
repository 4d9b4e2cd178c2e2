#include "agent/nft_table_shape.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace warden {
namespace {

std::string ruleComment(const std::string& rule) {
  static constexpr char kMarker[] = " comment \"";
  const auto pos = rule.rfind(kMarker);
  if (pos == std::string::npos || rule.back() != '"') return absl::StrCat("?", rule);
  return rule.substr(pos + sizeof(kMarker) - 1, rule.size() - pos - sizeof(kMarker));
}

// The value under `key`, or an empty one: a shape's maps need not hold every name its order
// lists ("?line" entries have no rules, a set need not have printed properties), and text from
// the host must never make the comparison throw.
template <typename V>
const V& entryOf(const std::map<std::string, V>& m, const std::string& key) {
  static const V kNone{};
  const auto it = m.find(key);
  return it == m.end() ? kNone : it->second;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) absl::StrAppend(&out, out.empty() ? "" : ", ", s);
  return out;
}

}  // namespace

TableShape parseTable(const std::string& text, const std::string& family,
                      const std::string& name_of_table) {
  TableShape shape;
  enum class Where { kOutside, kTable, kSet, kChain };
  Where where = Where::kOutside;
  std::string name;
  bool in_elements = false;
  std::string elements;
  const std::string header = absl::StrCat("table ", family, " ", name_of_table, " {");
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    const std::string line(absl::StripAsciiWhitespace(raw));
    if (line.empty()) continue;
    if (in_elements) {
      elements += " " + line;
      if (line.find('}') != std::string::npos) in_elements = false;
    } else if (where == Where::kOutside) {
      // An owned table's header names its owner: "table inet warden_owned { # progname x".
      if (line == header || absl::StartsWith(line, header + " # progname ")) {
        where = Where::kTable;
      }
      continue;
    } else if (line == "}") {
      where = where == Where::kTable ? Where::kOutside : Where::kTable;
      continue;
    } else if (where == Where::kTable) {
      if (absl::StartsWith(line, "flags ")) {
        shape.table_flags = line;
      } else if (absl::StartsWith(line, "set ") && absl::EndsWith(line, " {")) {
        where = Where::kSet;
        name = line.substr(4, line.size() - 6);
        shape.set_order.push_back(name);
        shape.set_elements[name];
      } else if (absl::StartsWith(line, "chain ") && absl::EndsWith(line, " {")) {
        where = Where::kChain;
        name = line.substr(6, line.size() - 8);
        shape.chain_order.push_back(name);
        shape.chain_rules[name];
      } else {
        // Anything else in the table (maps, flowtables, objects) is not ours.
        shape.chain_order.push_back(absl::StrCat("?", line));
      }
      continue;
    } else if (where == Where::kSet) {
      if (absl::StartsWith(line, "elements = {")) {
        elements = line;
        in_elements = line.find('}') == std::string::npos;
      } else {
        shape.set_props[name].push_back(line);
      }
    } else if (where == Where::kChain) {
      if (absl::StartsWith(line, "type ")) {
        shape.chain_hooks[name] = line;
      } else {
        shape.chain_rules[name].push_back(ruleComment(line));
      }
      continue;
    }
    if (where == Where::kSet && !in_elements && !elements.empty()) {
      std::string inner = elements.substr(elements.find('{') + 1);
      inner = inner.substr(0, inner.find('}'));
      for (absl::string_view e : absl::StrSplit(inner, ',', absl::SkipWhitespace())) {
        shape.set_elements[name].push_back(std::string(absl::StripAsciiWhitespace(e)));
      }
      std::sort(shape.set_elements[name].begin(), shape.set_elements[name].end());
      elements.clear();
    }
  }
  return shape;
}

absl::Status compareShapes(const std::string& script, const std::string& listing,
                           const std::string& family, const std::string& table_name) {
  const TableShape want = parseTable(script, family, table_name);
  const TableShape have = parseTable(listing, family, table_name);
  const std::string where = absl::StrCat("table ", family, " ", table_name);
  if (have.table_flags != want.table_flags) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s has '%s', expected '%s'", where, have.table_flags, want.table_flags));
  }
  if (have.chain_order != want.chain_order) {
    return absl::FailedPreconditionError(absl::StrFormat("%s has chains [%s], expected [%s]", where,
                                                         joined(have.chain_order),
                                                         joined(want.chain_order)));
  }
  if (have.set_order != want.set_order) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s has sets [%s], expected [%s]", where, joined(have.set_order), joined(want.set_order)));
  }
  for (const auto& chain : want.chain_order) {
    // nft prints the standard priority name for -300.
    std::string hook = entryOf(want.chain_hooks, chain);
    if (auto p = hook.find("priority -300;"); p != std::string::npos) {
      hook.replace(p, 14, "priority raw;");
    }
    const std::string& got = entryOf(have.chain_hooks, chain);
    if (got != hook) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s chain %s is hooked as '%s', expected '%s'", where, chain, got, hook));
    }
    const auto& have_rules = entryOf(have.chain_rules, chain);
    const auto& want_rules = entryOf(want.chain_rules, chain);
    if (have_rules != want_rules) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s chain %s has rules [%s], expected [%s]", where, chain,
                          joined(have_rules), joined(want_rules)));
    }
  }
  for (const auto& set : want.set_order) {
    const auto& have_elements = entryOf(have.set_elements, set);
    const auto& want_elements = entryOf(want.set_elements, set);
    if (entryOf(have.set_props, set) != entryOf(want.set_props, set) ||
        have_elements != want_elements) {
      return absl::FailedPreconditionError(absl::StrFormat("%s set %s holds [%s], expected [%s]",
                                                           where, set, joined(have_elements),
                                                           joined(want_elements)));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
