// What the three alert payload parsers share (alertmanager_payload.h, falco_payload.h,
// json_payload.h): reading a hostile body into a JSON tree within bounds (size, nesting depth),
// RFC 3339 times, label maps within alert.h's limits, the labels-hash fingerprint, and error
// messages that say where in the body a value was wrong ("alerts[2].labels.hostname: expected a
// string, got number") without echoing a sender's control characters into our logs.
//
// Bodies are parsed into nlohmann::json (objects in a std::map), not common/json.h's ordered
// `Json`: ordered_json finds each key by linear search, so a 1 MiB object of distinct keys takes
// seconds of CPU to parse (quadratic); std::map takes milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/alerts/alert.h"

namespace warden {

using PayloadJson = nlohmann::json;

// nlohmann's parser keeps a stack as deep as the document and its recursive functions (dump,
// compare, copy) recurse as deep: nesting is refused past this, before parsing.
inline constexpr std::size_t kMaxPayloadDepth = 64;
// Alertmanager's groupKey holds its route's matchers and every group_by label, so it may pass
// one label's limit.
inline constexpr std::size_t kMaxGroupKeyBytes = 16 * kMaxLabelBytes;

// `body` as one JSON document. Refuses an empty body, one over kMaxAlertBodyBytes, nesting deeper
// than kMaxPayloadDepth, and text that is not JSON (nlohmann's lexer refuses invalid UTF-8 and
// lone surrogates in strings).
absl::StatusOr<PayloadJson> parsePayloadJson(std::string_view body);

// An RFC 3339 date-time (§5.6: "2026-12-01T18:58:18.398244425Z", "...T15:50:17.16-02:00") as Unix
// milliseconds, the fraction truncated. Go's zero time (0001-01-01T00:00:00Z, what Alertmanager
// sends for "no end") is 0, as is the empty string.
absl::StatusOr<std::int64_t> parseRfc3339UnixMs(std::string_view text);

// SHA-256 over the labels in name order, each as name 0xFF value 0xFF (0xFF never occurs in
// UTF-8, so two label sets never hash the same text), hex of the first 16 bytes.
std::string labelsFingerprint(const std::map<std::string, std::string>& labels);

// Where a value sits in the body, for messages: memberPath("alerts[2]", "labels") is
// "alerts[2].labels", memberPath("", "version") is "version"; indexPath("alerts", 2) is
// "alerts[2]". A key is shown as printableText() shows it.
std::string memberPath(std::string_view parent, std::string_view key);
std::string indexPath(std::string_view parent, std::size_t index);
// `text` cut to about `max_bytes`, with each byte or character a terminal would not show as
// itself (invalid UTF-8, controls, bidi overrides) as '?'.
std::string printableText(std::string_view text, std::size_t max_bytes = 64);

// "PATH: expected EXPECTED, got TYPE" (TYPE as nlohmann names it: number, object, ...).
absl::Status wrongType(std::string_view path, std::string_view expected, const PayloadJson& got);
// A string's bounds: valid UTF-8 and at most `max_bytes`.
absl::Status checkText(std::string_view path, std::string_view text,
                       std::size_t max_bytes = kMaxLabelBytes);

// The member `key` of the object `obj`, or nullptr when it is absent or null (Go writes a nil
// map or pointer as null).
const PayloadJson* findMember(const PayloadJson& obj, std::string_view key);
// An optional string member ("" when absent or null), within checkText's bounds.
absl::StatusOr<std::string> readString(const PayloadJson& obj, std::string_view parent,
                                       std::string_view key,
                                       std::size_t max_bytes = kMaxLabelBytes);
// An optional RFC 3339 time member (0 when absent or null).
absl::StatusOr<std::int64_t> readTime(const PayloadJson& obj, std::string_view parent,
                                      std::string_view key);
// A string-to-string object member (labels, annotations): at most kMaxLabels entries, names not
// empty, names and values within checkText's bounds. Absent or null is an error when `required`,
// else an empty map.
absl::StatusOr<std::map<std::string, std::string>> readStringMap(const PayloadJson& obj,
                                                                 std::string_view parent,
                                                                 std::string_view key,
                                                                 bool required);
// The sender's fingerprint under `key` when given and not empty, else labelsFingerprint().
absl::StatusOr<std::string> readFingerprint(const PayloadJson& obj, std::string_view parent,
                                            std::string_view key,
                                            const std::map<std::string, std::string>& labels);

}  // namespace warden
