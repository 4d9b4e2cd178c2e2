// The alert webhook parsers (common/alerts/*_payload.h), the first byte picking which: 0
// Alertmanager, 1 Falco, 2 the generic JSON list (modulo 3). Any body gives a batch or an
// InvalidArgument whose message is printable text; an accepted batch holds alert.h's bounds,
// all its text is UTF-8, every alert has a fingerprint; parsing is deterministic, and the batch
// written back in its sender's format parses to the same batch.
#include <map>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/alerts/alert.h"
#include "common/alerts/alertmanager_payload.h"
#include "common/alerts/falco_payload.h"
#include "common/alerts/json_payload.h"
#include "common/alerts/payload_common.h"
#include "common/json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace warden;

constexpr std::int64_t kNowUnixMs = 1764600000000;
// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the times RFC 3339 can write.
constexpr std::int64_t kFirstWritableMs = -62167219200000;
constexpr std::int64_t kLastWritableMs = 253402300799999;

absl::StatusOr<AlertBatch> parse(int parser, std::string_view body) {
  switch (parser) {
    case 0:
      return parseAlertmanagerPayload(body);
    case 1:
      return parseFalcoPayload(body);
    default:
      return parseJsonAlerts(body, kNowUnixMs);
  }
}

bool printable(std::string_view text) {
  while (!text.empty()) {
    const TextUnit unit = nextTextUnit(text);
    if (!unit.safe) return false;
    text.remove_prefix(unit.size);
  }
  return true;
}

void checkMap(const std::map<std::string, std::string>& m) {
  FUZZ_CHECK(m.size() <= kMaxLabels);
  for (const auto& [name, value] : m) {
    FUZZ_CHECK(!name.empty() && name.size() <= kMaxLabelBytes && validUtf8(name));
    FUZZ_CHECK(value.size() <= kMaxLabelBytes && validUtf8(value));
  }
}

bool sameAlert(const Alert& a, const Alert& b) {
  return a.resolved == b.resolved && a.fingerprint == b.fingerprint &&
         a.starts_unix_ms == b.starts_unix_ms && a.ends_unix_ms == b.ends_unix_ms &&
         a.labels == b.labels && a.annotations == b.annotations;
}

bool sameBatch(const AlertBatch& a, const AlertBatch& b) {
  if (a.format != b.format || a.receiver != b.receiver || a.group_key != b.group_key ||
      a.truncated_alerts != b.truncated_alerts || a.alerts.size() != b.alerts.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.alerts.size(); ++i) {
    if (!sameAlert(a.alerts[i], b.alerts[i])) return false;
  }
  return true;
}

bool writable(std::int64_t ms) { return ms >= kFirstWritableMs && ms <= kLastWritableMs; }

// RFC 3339 in UTC with the milliseconds; 0 (no time) is left out.
void putTime(PayloadJson& obj, const char* key, std::int64_t ms) {
  if (ms == 0) return;
  // absl::FormatTime's %Y does not pad years before 1000 to four digits.
  const absl::CivilSecond c = absl::ToCivilSecond(absl::FromUnixMillis(ms), absl::UTCTimeZone());
  obj[key] = absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year(), c.month(), c.day(),
                             c.hour(), c.minute(), c.second(), (ms % 1000 + 1000) % 1000);
}

// The batch as its sender would have written it.
std::string rewrite(const AlertBatch& batch) {
  PayloadJson out;
  if (batch.format == AlertFormat::kFalco) {
    const Alert& a = batch.alerts[0];
    out = PayloadJson::object();
    for (const auto& [name, value] : a.labels) {
      if (name.rfind("output_fields.", 0) == 0) {
        out["output_fields"][name.substr(14)] = value;
      } else if (name == "tags") {
        out["tags"] = PayloadJson::array({value});  // one tag, already joined
      } else {
        out[name] = value;
      }
    }
    if (const auto it = a.annotations.find("output"); it != a.annotations.end()) {
      out["output"] = it->second;
    }
    putTime(out, "time", a.starts_unix_ms);
    out["uuid"] = a.fingerprint;
    return out.dump();
  }
  PayloadJson alerts = PayloadJson::array();
  for (const Alert& a : batch.alerts) {
    PayloadJson j = {
        {"labels", a.labels}, {"annotations", a.annotations}, {"fingerprint", a.fingerprint}};
    putTime(j, "startsAt", a.starts_unix_ms);
    putTime(j, "endsAt", a.ends_unix_ms);
    if (batch.format == AlertFormat::kAlertmanager)
      j["status"] = a.resolved ? "resolved" : "firing";
    alerts.push_back(std::move(j));
  }
  if (batch.format == AlertFormat::kJson) return alerts.dump();
  out = {{"version", "4"},
         {"receiver", batch.receiver},
         {"groupKey", batch.group_key},
         {"truncatedAlerts", batch.truncated_alerts},
         {"alerts", alerts}};
  return out.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int parser = data[0] % 3;
  const std::string_view body = fuzz::asText(data + 1, size - 1);
  const absl::StatusOr<AlertBatch> batch = parse(parser, body);
  if (!batch.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(batch.status()));
    FUZZ_CHECK(!batch.status().message().empty() &&
               printable(std::string(batch.status().message())));
    return 0;
  }
  FUZZ_CHECK(batch->format == (parser == 0   ? AlertFormat::kAlertmanager
                               : parser == 1 ? AlertFormat::kFalco
                                             : AlertFormat::kJson));
  FUZZ_CHECK(batch->alerts.size() <= kMaxAlertsPerPayload);
  FUZZ_CHECK(batch->receiver.size() <= kMaxLabelBytes && validUtf8(batch->receiver));
  FUZZ_CHECK(batch->group_key.size() <= kMaxGroupKeyBytes && validUtf8(batch->group_key));
  if (parser != 0) {
    FUZZ_CHECK(batch->receiver.empty() && batch->group_key.empty());
    FUZZ_CHECK(batch->truncated_alerts == 0);
  }
  bool times_writable = true;
  for (const Alert& a : batch->alerts) {
    FUZZ_CHECK(!a.fingerprint.empty() && a.fingerprint.size() <= kMaxLabelBytes &&
               validUtf8(a.fingerprint));
    checkMap(a.labels);
    checkMap(a.annotations);
    if (parser == 1) {
      FUZZ_CHECK(a.labels.count("rule") == 1 && !a.labels.at("rule").empty());
      FUZZ_CHECK(!a.resolved && a.ends_unix_ms == 0);
      FUZZ_CHECK(a.annotations.size() <= 1);
    }
    if (parser == 2)
      FUZZ_CHECK(a.resolved == (a.ends_unix_ms != 0 && a.ends_unix_ms <= kNowUnixMs));
    times_writable = times_writable && writable(a.starts_unix_ms) && writable(a.ends_unix_ms);
  }
  if (parser == 1) FUZZ_CHECK(batch->alerts.size() == 1);

  const absl::StatusOr<AlertBatch> again = parse(parser, body);
  FUZZ_CHECK(again.ok() && sameBatch(*batch, *again));

  if (!times_writable) return 0;  // an offset carried the time past year 0000 or 9999
  const std::string written = rewrite(*batch);
  if (written.size() > kMaxAlertBodyBytes) return 0;
  const absl::StatusOr<AlertBatch> reread = parse(parser, written);
  FUZZ_CHECK(reread.ok() && sameBatch(*batch, *reread));
  return 0;
}
