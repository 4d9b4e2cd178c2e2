#include "common/alerts/falco_payload.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/alerts/payload_common.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::string_view kOutputFieldPrefix = "output_fields.";

// A scalar output field value as label text; false when `v` is not a scalar.
bool scalarText(const PayloadJson& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get_ref<const std::string&>();
  } else if (v.is_boolean()) {
    *out = v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    *out = v.dump();  // integers in decimal; floats as the shortest text that reads back
  } else {
    return false;
  }
  return true;
}

// One non-null output field's value as label text.
absl::StatusOr<std::string> fieldText(const PayloadJson& v, const std::string& path) {
  std::string text;
  if (scalarText(v, &text)) return text;
  if (!v.is_array()) return wrongType(path, "a string, number, boolean, null or list", v);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string item;
    if (!scalarText(v[i], &item)) {
      return wrongType(indexPath(path, i), "a string, number or boolean", v[i]);
    }
    if (i > 0) text += ',';
    text += item;
    // Checked as it grows: a list of a million empty strings stops here, not after joining.
    WARDEN_RETURN_IF_ERROR(checkText(path, text));
  }
  return text;
}

absl::StatusOr<std::string> joinedTags(const PayloadJson& tags) {
  if (!tags.is_array()) return wrongType("tags", "an array of strings", tags);
  std::vector<std::string> sorted;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const std::string path = indexPath("tags", i);
    if (!tags[i].is_string()) return wrongType(path, "a string", tags[i]);
    const auto& tag = tags[i].get_ref<const std::string&>();
    WARDEN_RETURN_IF_ERROR(checkText(path, tag));
    bytes += tag.size() + 1;
    if (bytes > kMaxLabelBytes + 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tags: more than the limit of %d bytes joined", kMaxLabelBytes));
    }
    sorted.push_back(tag);
  }
  std::sort(sorted.begin(), sorted.end());
  return absl::StrJoin(sorted, ",");
}

absl::Status readOutputFields(const PayloadJson& fields,
                              std::map<std::string, std::string>* labels) {
  if (!fields.is_object()) return wrongType("output_fields", "an object", fields);
  for (const auto& [name, value] : fields.items()) {
    const std::string path = memberPath("output_fields", name);
    if (name.empty()) return absl::InvalidArgumentError("output_fields: an empty name");
    if (value.is_null()) continue;
    if (labels->size() >= kMaxLabels) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "output_fields: more than the limit of %d labels with the event's own", kMaxLabels));
    }
    std::string label = std::string(kOutputFieldPrefix) + name;
    WARDEN_RETURN_IF_ERROR(checkText("output_fields: a name", label));
    WARDEN_ASSIGN_OR_RETURN(std::string text, fieldText(value, path));
    WARDEN_RETURN_IF_ERROR(checkText(path, text));
    labels->emplace(std::move(label), std::move(text));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AlertBatch> parseFalcoPayload(std::string_view body) {
  WARDEN_ASSIGN_OR_RETURN(PayloadJson doc, parsePayloadJson(body));
  if (!doc.is_object()) return wrongType("body", "an object", doc);
  Alert alert;
  if (findMember(doc, "rule") == nullptr) {
    return absl::InvalidArgumentError("rule: missing (every Falco event has one)");
  }
  WARDEN_ASSIGN_OR_RETURN(std::string rule, readString(doc, "", "rule"));
  if (rule.empty()) return absl::InvalidArgumentError("rule: empty");
  alert.labels.emplace("rule", std::move(rule));
  for (std::string_view key : {"priority", "source", "hostname"}) {
    if (findMember(doc, key) == nullptr) continue;
    WARDEN_ASSIGN_OR_RETURN(std::string value, readString(doc, "", key));
    alert.labels.emplace(std::string(key), std::move(value));
  }
  if (const PayloadJson* tags = findMember(doc, "tags")) {
    WARDEN_ASSIGN_OR_RETURN(std::string joined, joinedTags(*tags));
    alert.labels.emplace("tags", std::move(joined));
  }
  if (const PayloadJson* fields = findMember(doc, "output_fields")) {
    WARDEN_RETURN_IF_ERROR(readOutputFields(*fields, &alert.labels));
  }
  if (findMember(doc, "output") != nullptr) {
    // Falco's `output` repeats the event's fields in words and can be long (a command line):
    // the annotation is cut to the label bound rather than the event refused. Nothing matches
    // on it.
    WARDEN_ASSIGN_OR_RETURN(std::string output, readString(doc, "", "output", kMaxAlertBodyBytes));
    if (output.size() > kMaxLabelBytes) {
      std::size_t cut = kMaxLabelBytes - 3;
      while (cut > 0 && (static_cast<unsigned char>(output[cut]) & 0xC0) == 0x80) --cut;
      output.resize(cut);
      output += "...";
    }
    alert.annotations.emplace("output", std::move(output));
  }
  WARDEN_ASSIGN_OR_RETURN(alert.starts_unix_ms, readTime(doc, "", "time"));
  WARDEN_ASSIGN_OR_RETURN(alert.fingerprint, readFingerprint(doc, "", "uuid", alert.labels));
  AlertBatch batch;
  batch.format = AlertFormat::kFalco;
  batch.alerts.push_back(std::move(alert));
  return batch;
}

}  // namespace warden
