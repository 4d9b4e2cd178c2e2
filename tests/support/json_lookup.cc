#include "tests/support/json_lookup.h"

#include <vector>

namespace warden::testing {
namespace {

// Bounds the walk: what the tests read nests a few levels at most.
constexpr int kMaxDepth = 64;

const Json* find(const Json& node, int depth,
                 const std::function<bool(const std::string&, const Json&)>& match) {
  if (depth > kMaxDepth) return nullptr;
  if (node.is_object()) {
    for (const auto& [name, value] : node.items()) {
      if (match(name, value)) return &value;
      if (const Json* inner = find(value, depth + 1, match); inner != nullptr) return inner;
    }
  } else if (node.is_array()) {
    for (const Json& element : node) {
      if (const Json* inner = find(element, depth + 1, match); inner != nullptr) return inner;
    }
  }
  return nullptr;
}

// The first object (depth first, an object before what it contains) for which `match` holds.
const Json* findObject(const Json& node, int depth, const std::function<bool(const Json&)>& match) {
  if (depth > kMaxDepth) return nullptr;
  if (node.is_object() && match(node)) return &node;
  if (node.is_object() || node.is_array()) {
    for (const Json& child : node) {
      if (const Json* inner = findObject(child, depth + 1, match); inner != nullptr) return inner;
    }
  }
  return nullptr;
}

}  // namespace

Json parseOrNull(const std::string& text) {
  absl::StatusOr<Json> parsed = parseJson(text, "JSON");
  return parsed.ok() ? *std::move(parsed) : Json();
}

const Json* firstMember(const Json& doc,
                        const std::function<bool(const std::string&, const Json&)>& match) {
  return find(doc, 0, match);
}

std::string jsonString(const Json& doc, const std::string& key) {
  const Json* v = firstMember(doc, [&](const std::string& name, const Json& value) {
    return name == key && value.is_string();
  });
  return v != nullptr ? v->get<std::string>() : "";
}

std::string jsonString(const std::string& json, const std::string& key) {
  return jsonString(parseOrNull(json), key);
}

std::string jsonNumber(const std::string& json, const std::string& key) {
  const Json doc = parseOrNull(json);
  const Json* v =
      firstMember(doc, [&](const std::string& name, const Json&) { return name == key; });
  if (v == nullptr) return "";
  return v->is_string() ? v->get<std::string>() : v->dump();
}

Json jsonObjectWith(const std::string& json, const std::string& key, const std::string& value) {
  const Json doc = parseOrNull(json);
  const Json* found = findObject(doc, 0, [&](const Json& object) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() && it->get<std::string>() == value;
  });
  return found != nullptr ? *found : Json();
}

}  // namespace warden::testing
