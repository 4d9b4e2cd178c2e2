// Looking values up in the JSON the tests read, with nlohmann-json: what `warden ... --json`
// prints (protobuf's JSON of the operator API's messages, in places wrapped in an object of the
// CLI's own) and triage manifests. Values are found by member name wherever they sit: the first
// match depth first, which is the first in the text. Text that is not JSON has no members:
// lookups give "" or null.
#pragma once

#include <functional>
#include <string>

#include "common/json.h"

namespace warden::testing {

// `text` parsed, or null when it is not one JSON document.
Json parseOrNull(const std::string& text);

// The first member of `doc` (depth first, in document order) for which `match(name, value)`
// holds; nullptr when there is none.
const Json* firstMember(const Json& doc,
                        const std::function<bool(const std::string&, const Json&)>& match);

// The value of the first member named `key` whose value is a string; "" when there is none.
std::string jsonString(const Json& doc, const std::string& key);
std::string jsonString(const std::string& json, const std::string& key);

// The first member named `key` of any value as text: a string's content, or the JSON of a
// number, boolean or null ("12", "true"; protobuf writes 64-bit integers as strings, which come
// back unquoted all the same); "" when there is none.
std::string jsonNumber(const std::string& json, const std::string& key);

// The first object in `json` whose member `key` is the string `value` (e.g. one action of
// `warden actions --json` by its id); null when there is none.
Json jsonObjectWith(const std::string& json, const std::string& key, const std::string& value);

}  // namespace warden::testing
