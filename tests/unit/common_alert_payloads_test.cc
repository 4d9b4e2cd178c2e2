// common/alerts/*_payload.h: the three alert webhook parsers, against the real senders' bodies
// in ../shared/fixtures/alerts/ (read at run time, never copied here; see its README.md) and
// against hostile ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/alerts/alert.h"
#include "common/alerts/alertmanager_payload.h"
#include "common/alerts/falco_payload.h"
#include "common/alerts/json_payload.h"
#include "common/alerts/payload_common.h"
#include "common/files.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

const std::string kFixtures = WARDEN_ALERT_FIXTURES;
constexpr std::int64_t kNow = 1764600000000;  // 2025-12-01T14:40:00Z
const std::string kSshGroupKey = R"({}/{severity="critical"}:{alertname="SSHBruteForce"})";
constexpr std::int64_t kSshStartsMs = 1796151498398;  // 2026-12-01T18:58:18.398244425Z

std::string fixture(const std::string& name) {
  absl::StatusOr<std::string> text = readFile(kFixtures + "/" + name);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

AlertBatch mustParse(const absl::StatusOr<AlertBatch>& batch) {
  EXPECT_TRUE(batch.ok()) << batch.status();
  return batch.ok() ? *batch : AlertBatch{};
}

AlertBatch alertmanagerFixture(const std::string& name) {
  return mustParse(parseAlertmanagerPayload(fixture(name)));
}

AlertBatch falcoFixture(const std::string& name) {
  AlertBatch b = mustParse(parseFalcoPayload(fixture(name)));
  EXPECT_EQ(b.format, AlertFormat::kFalco);
  EXPECT_EQ(b.alerts.size(), 1u);
  if (b.alerts.empty()) b.alerts.emplace_back();
  return b;
}

// The fixture, re-serialized with `edit` applied (for the shapes no sender captured).
std::string editedFixture(const std::string& name, void (*edit)(PayloadJson&)) {
  PayloadJson doc = PayloadJson::parse(fixture(name));
  edit(doc);
  return doc.dump();
}

std::string errorOf(const absl::StatusOr<AlertBatch>& batch) {
  EXPECT_FALSE(batch.ok());
  if (batch.ok()) return "";
  EXPECT_TRUE(absl::IsInvalidArgument(batch.status())) << batch.status();
  return std::string(batch.status().message());
}

std::string alertmanagerError(std::string_view body) {
  return errorOf(parseAlertmanagerPayload(body));
}
std::string falcoError(std::string_view body) { return errorOf(parseFalcoPayload(body)); }
std::string jsonError(std::string_view body) { return errorOf(parseJsonAlerts(body, kNow)); }

// n alerts of the generic list, each with the one label {a: value}.
std::string jsonList(std::size_t n, const std::string& value = "v") {
  PayloadJson list = PayloadJson::array();
  for (std::size_t i = 0; i < n; ++i) list.push_back({{"labels", {{"a", value}}}});
  return list.dump();
}

// ---- Alertmanager 0.25.0, webhook version 4 ----

TEST(AlertmanagerPayload, FiringGroupOfThree) {
  const AlertBatch b = alertmanagerFixture("alertmanager-v4-firing-group.json");
  EXPECT_EQ(b.format, AlertFormat::kAlertmanager);
  EXPECT_EQ(b.receiver, "warden");
  EXPECT_EQ(b.group_key, kSshGroupKey);
  EXPECT_EQ(b.truncated_alerts, 0u);
  ASSERT_EQ(b.alerts.size(), 3u);
  const char* fingerprints[] = {"419fcca5dcfe411d", "455a0cf6a92a0b33", "59b6d3924aee214c"};
  for (std::size_t i = 0; i < 3; ++i) {
    const Alert& a = b.alerts[i];
    EXPECT_FALSE(a.resolved);
    EXPECT_EQ(a.fingerprint, fingerprints[i]);
    EXPECT_EQ(a.starts_unix_ms, kSshStartsMs);
    EXPECT_EQ(a.ends_unix_ms, 0) << "Go's zero time is no end";
    EXPECT_EQ(a.labels.size(), 6u);
    EXPECT_EQ(a.labels.at("alertname"), "SSHBruteForce");
    EXPECT_EQ(a.labels.at("severity"), "critical");
  }
  EXPECT_EQ(b.alerts[0].labels.at("instance"), "host-42.example.org:9100");
  EXPECT_EQ(b.alerts[0].labels.at("hostname"), "host-42");
  EXPECT_EQ(b.alerts[2].labels.at("src_ip"), "198.51.100.23");
  EXPECT_EQ(b.alerts[1].annotations.at("summary"), "SSH brute force against host-43");
  EXPECT_EQ(b.alerts[1].annotations.size(), 2u);
}

TEST(AlertmanagerPayload, PerAlertStatusDecidesNotTheEnvelopes) {
  const AlertBatch b = alertmanagerFixture("alertmanager-v4-mixed-firing-resolved.json");
  ASSERT_EQ(b.alerts.size(), 3u);
  EXPECT_FALSE(b.alerts[0].resolved);
  EXPECT_TRUE(b.alerts[1].resolved);  // the envelope still says "firing"
  EXPECT_FALSE(b.alerts[2].resolved);
  EXPECT_EQ(b.alerts[1].labels.at("hostname"), "host-43");
  EXPECT_EQ(b.alerts[1].fingerprint, "455a0cf6a92a0b33");
  EXPECT_EQ(b.alerts[1].ends_unix_ms, 1796151506000);  // 2026-12-01T18:58:26Z
  EXPECT_EQ(b.alerts[0].ends_unix_ms, 0);
}

TEST(AlertmanagerPayload, AllResolved) {
  const AlertBatch b = alertmanagerFixture("alertmanager-v4-resolved.json");
  ASSERT_EQ(b.alerts.size(), 3u);
  for (const Alert& a : b.alerts) {
    EXPECT_TRUE(a.resolved);
    EXPECT_EQ(a.ends_unix_ms, 1796151517000);  // 2026-12-01T18:58:37Z
  }
  EXPECT_EQ(b.alerts[1].starts_unix_ms, 1796151517000);
  EXPECT_EQ(b.alerts[2].fingerprint, "59b6d3924aee214c");
}

TEST(AlertmanagerPayload, TruncatedGroupKeepsItsReceiver) {
  const AlertBatch b = alertmanagerFixture("alertmanager-v4-truncated-max-alerts-2.json");
  EXPECT_EQ(b.receiver, "warden-max2");
  EXPECT_EQ(b.truncated_alerts, 1u);
  ASSERT_EQ(b.alerts.size(), 2u);
  EXPECT_EQ(b.alerts[1].fingerprint, "455a0cf6a92a0b33");
  // Same group, other receiver: only the receiver tells the two deliveries apart.
  const AlertBatch other = alertmanagerFixture("alertmanager-v4-firing-group.json");
  EXPECT_EQ(b.group_key, other.group_key);
  EXPECT_NE(b.receiver, other.receiver);
}

TEST(AlertmanagerPayload, DefaultRouteWithoutHostname) {
  const AlertBatch b = alertmanagerFixture("alertmanager-v4-single-default-route.json");
  EXPECT_EQ(b.group_key, R"({}:{alertname="HostOutboundConnectionSpike"})");
  ASSERT_EQ(b.alerts.size(), 1u);
  const Alert& a = b.alerts[0];
  EXPECT_EQ(a.labels.count("hostname"), 0u);
  EXPECT_EQ(a.labels.at("instance"), "db-7.example.org:9100");
  EXPECT_EQ(a.labels.at("severity"), "warning");
  EXPECT_EQ(a.fingerprint, "ba0712fa5469f507");
  EXPECT_EQ(a.annotations.at("runbook_url"), "https://runbooks.example.org/outbound-spike");
  EXPECT_EQ(a.starts_unix_ms, 1796151530212);  // 2026-12-01T18:58:50.212734354Z
}

TEST(AlertmanagerPayload, LegacyShapeWithoutFingerprintsHashesTheLabels) {
  const AlertBatch b = alertmanagerFixture("alertmanager-v4-legacy-issue1051.json");
  EXPECT_EQ(b.receiver, "webhook");
  EXPECT_EQ(b.truncated_alerts, 0u);
  ASSERT_EQ(b.alerts.size(), 2u);
  EXPECT_FALSE(b.alerts[0].resolved);
  EXPECT_TRUE(b.alerts[1].resolved);
  // A label named "status" is a label, not the alert's status.
  EXPECT_EQ(b.alerts[1].labels.at("status"), "resolved");
  // SHA-256 of "alertname\xffServerStop\xffenv\xffprod\xffstatus\xfffiring\xff", first 16 bytes
  // (computed independently with Python's hashlib).
  EXPECT_EQ(b.alerts[0].fingerprint, "0fa84a3489eb58659f344ac5b110c4aa");
  EXPECT_EQ(b.alerts[1].fingerprint, "ae6d88a3ecaa48842bcdcb6453baf012");
  EXPECT_EQ(b.alerts[0].starts_unix_ms, 1508608217160);  // 15:50:17.16095407-02:00
  EXPECT_EQ(b.alerts[1].ends_unix_ms, 1508608228806);
  EXPECT_TRUE(b.alerts[0].annotations.empty());
}

TEST(AlertmanagerPayload, MissingVersionIsTheLegacyShape) {
  const std::string body = editedFixture("alertmanager-v4-legacy-issue1051.json",
                                         [](PayloadJson& d) { d.erase("version"); });
  const AlertBatch b = mustParse(parseAlertmanagerPayload(body));
  EXPECT_EQ(b.alerts.size(), 2u);
}

TEST(AlertmanagerPayload, GrafanaVersionOneIsRefused) {
  // Grafana's webhook is Alertmanager-shaped but says version "1": its own format, with its own
  // history. This endpoint takes Alertmanager's version 4 only, and says so.
  EXPECT_THAT(alertmanagerError(fixture("grafana-alerting-webhook-example.json")),
              HasSubstr(R"(version: "1" is not supported)"));
  // Its fields are otherwise read as Alertmanager's; Grafana's own (orgId, values with numbers,
  // silenceURL, state, message) are ignored.
  const AlertBatch b = mustParse(parseAlertmanagerPayload(editedFixture(
      "grafana-alerting-webhook-example.json", [](PayloadJson& d) { d["version"] = "4"; })));
  EXPECT_EQ(b.receiver, "My Super Webhook");
  ASSERT_EQ(b.alerts.size(), 2u);
  EXPECT_EQ(b.alerts[0].fingerprint, "c6eadffa33fcdf37");
  EXPECT_EQ(b.alerts[1].labels.at("zone"), "eu-1");
  EXPECT_EQ(b.alerts[0].starts_unix_ms, 1634025063157);  // 09:51:03.157076+02:00
}

TEST(AlertmanagerPayload, UnknownFieldsAndNullsAreIgnored) {
  const AlertBatch b = mustParse(parseAlertmanagerPayload(
      R"({"version":"4","notification_reason":"x","routeLabels":{"a":1},"receiver":null,)"
      R"("alerts":[{"status":"firing","labels":{"a":"b"},"annotations":null,"fingerprint":null,)"
      R"("startsAt":null,"extra":[1,{"x":[]}]}]})"));
  ASSERT_EQ(b.alerts.size(), 1u);
  EXPECT_EQ(b.receiver, "");
  EXPECT_TRUE(b.alerts[0].annotations.empty());
  EXPECT_EQ(b.alerts[0].fingerprint, labelsFingerprint({{"a", "b"}}));
}

TEST(AlertmanagerPayload, WrongShapesSayWhereAndWhat) {
  const std::string ok_alert = R"({"status":"firing","labels":{}})";
  EXPECT_EQ(alertmanagerError("[]"), "body: expected an object, got array");
  EXPECT_EQ(alertmanagerError("{}"), "alerts: missing");
  EXPECT_EQ(alertmanagerError(R"({"alerts":{}})"), "alerts: expected an array, got object");
  EXPECT_EQ(alertmanagerError(R"({"version":4,"alerts":[]})"),
            "version: expected a string, got number");
  EXPECT_THAT(alertmanagerError(R"({"version":"5","alerts":[]})"),
              StartsWith(R"(version: "5" is not supported)"));
  EXPECT_EQ(alertmanagerError(R"({"truncatedAlerts":-1,"alerts":[]})"),
            "truncatedAlerts: expected a non-negative integer, got number");
  EXPECT_EQ(alertmanagerError(R"({"receiver":["r"],"alerts":[]})"),
            "receiver: expected a string, got array");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[)" + ok_alert + "," + ok_alert +
                              R"(,{"status":"firing","labels":{"hostname":42}}]})"),
            "alerts[2].labels.hostname: expected a string, got number");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[7]})"), "alerts[0]: expected an object, got number");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"labels":{}}]})"), "alerts[0].status: missing");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"status":"pending","labels":{}}]})"),
            R"(alerts[0].status: expected "firing" or "resolved", got "pending")");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"status":"firing"}]})"), "alerts[0].labels: missing");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"status":"firing","labels":[]}]})"),
            "alerts[0].labels: expected an object of strings, got array");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"status":"firing","labels":{},"startsAt":1}]})"),
            "alerts[0].startsAt: expected an RFC 3339 time string, got number");
  EXPECT_THAT(
      alertmanagerError(R"({"alerts":[{"status":"firing","labels":{},"endsAt":"yesterday"}]})"),
      StartsWith(R"(alerts[0].endsAt: "yesterday" is not an RFC 3339 time)"));
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"status":"firing","labels":{"":"x"}}]})"),
            "alerts[0].labels: an empty name");
  EXPECT_EQ(alertmanagerError(R"({"alerts":[{"status":"firing","labels":{},"fingerprint":1}]})"),
            "alerts[0].fingerprint: expected a string, got number");
}

TEST(AlertmanagerPayload, BoundsOnAlertsLabelsAndText) {
  PayloadJson alert = {{"status", "firing"}, {"labels", PayloadJson::object()}};
  PayloadJson doc = {{"alerts", PayloadJson::array()}};
  for (std::size_t i = 0; i < kMaxAlertsPerPayload; ++i) doc["alerts"].push_back(alert);
  EXPECT_EQ(mustParse(parseAlertmanagerPayload(doc.dump())).alerts.size(), kMaxAlertsPerPayload);
  doc["alerts"].push_back(alert);
  EXPECT_EQ(alertmanagerError(doc.dump()), "alerts: 1001 alerts, more than the limit of 1000");

  for (std::size_t i = 0; i < kMaxLabels; ++i) alert["labels"][absl::StrCat("l", i)] = "v";
  EXPECT_TRUE(parseAlertmanagerPayload(PayloadJson{{"alerts", {alert}}}.dump()).ok());
  alert["labels"]["one-more"] = "v";
  EXPECT_EQ(alertmanagerError(PayloadJson{{"alerts", {alert}}}.dump()),
            "alerts[0].labels: 129 entries, more than the limit of 128");

  alert["labels"] = {{"a", std::string(kMaxLabelBytes, 'x')}};
  EXPECT_TRUE(parseAlertmanagerPayload(PayloadJson{{"alerts", {alert}}}.dump()).ok());
  alert["labels"] = {{"a", std::string(kMaxLabelBytes + 1, 'x')}};
  EXPECT_EQ(alertmanagerError(PayloadJson{{"alerts", {alert}}}.dump()),
            "alerts[0].labels.a: 4097 bytes, more than the limit of 4096");
  alert["labels"] = {{std::string(kMaxLabelBytes + 1, 'n'), "v"}};
  EXPECT_THAT(alertmanagerError(PayloadJson{{"alerts", {alert}}}.dump()),
              HasSubstr("alerts[0].labels: a name: 4097 bytes, more than the limit of 4096"));
  alert["labels"] = PayloadJson::object();
  alert["annotations"] = {{"description", std::string(kMaxLabelBytes + 1, 'x')}};
  EXPECT_THAT(alertmanagerError(PayloadJson{{"alerts", {alert}}}.dump()),
              StartsWith("alerts[0].annotations.description: 4097 bytes"));
}

// ---- Falco json_output ----

TEST(FalcoPayload, TerminalShellEvent) {
  const Alert a = falcoFixture("falco-json-output-terminal-shell.json").alerts[0];
  EXPECT_FALSE(a.resolved);
  EXPECT_EQ(a.starts_unix_ms, 1685022245478);  // 2023-05-25T13:44:05.478445995Z
  EXPECT_EQ(a.ends_unix_ms, 0);
  EXPECT_EQ(a.labels.at("rule"), "Terminal shell in container");
  EXPECT_EQ(a.labels.at("priority"), "Critical");
  EXPECT_EQ(a.labels.at("source"), "syscall");
  EXPECT_EQ(a.labels.at("hostname"), "falco-xczjd");
  EXPECT_EQ(a.labels.at("tags"), "container,mitre_execution,shell");
  EXPECT_EQ(a.labels.at("output_fields.evt.time"), "1685022245478445995");
  EXPECT_EQ(a.labels.at("output_fields.proc.tty"), "34816");
  EXPECT_EQ(a.labels.at("output_fields.user.loginuid"), "-1");
  EXPECT_EQ(a.labels.at("output_fields.proc.cmdline"), "sh -c clear; (bash || ash || sh)");
  EXPECT_EQ(a.labels.at("output_fields.container.image.repository"), "docker.io/library/alpine");
  EXPECT_EQ(a.labels.size(), 5u + 11u);
  EXPECT_THAT(a.annotations, ElementsAre(Pair("output", StartsWith("13:44:05.478445995: "))));
  EXPECT_EQ(a.fingerprint, labelsFingerprint(a.labels));
  EXPECT_EQ(a.fingerprint.size(), 32u);
}

TEST(FalcoPayload, K8sAuditEventWithBracketKey) {
  const Alert a = falcoFixture("falco-json-output-k8saudit.json").alerts[0];
  EXPECT_EQ(a.labels.at("source"), "k8s_audit");
  EXPECT_EQ(a.labels.at("tags"), "k8s");
  EXPECT_EQ(a.labels.at("priority"), "Notice");
  EXPECT_EQ(a.labels.at("hostname"), "falco-k8saudit-eks-96d7f6f99-vwjgc");
  EXPECT_EQ(a.labels.at("output_fields.ka.uri.param[command]"), "sh");
  EXPECT_EQ(a.labels.at("output_fields.ka.user.name"), "kubernetes-admin");
  EXPECT_EQ(a.labels.at("output_fields.evt.time"), "1683727764046826000");
  EXPECT_EQ(a.starts_unix_ms, 1683727764046);
}

TEST(FalcoPayload, LegacyEventSkipsNullsAndAbsentFields) {
  const Alert a = falcoFixture("falco-json-output-legacy-nulls.json").alerts[0];
  EXPECT_EQ(a.labels.count("hostname"), 0u);
  EXPECT_EQ(a.labels.count("source"), 0u);
  EXPECT_EQ(a.labels.count("tags"), 0u);
  EXPECT_EQ(a.labels.count("output_fields.proc.pname"), 0u);
  EXPECT_EQ(a.labels.count("output_fields.container.image.repository"), 0u);
  EXPECT_EQ(a.labels.at("output_fields.proc.tty"), "34817");
  EXPECT_EQ(a.labels.at("output_fields.k8s.pod.name"), "alpine");
  EXPECT_EQ(a.labels.size(), 2u + 9u);  // rule, priority, the 9 non-null fields
  EXPECT_EQ(a.starts_unix_ms, 1610667584834);
}

TEST(FalcoPayload, HostEventAndFalcosidekickTestInput) {
  const Alert host = falcoFixture("falco-json-output-write-below-binary-dir.json").alerts[0];
  EXPECT_EQ(host.labels.at("hostname"), "localhost");
  EXPECT_EQ(host.labels.at("rule"), "Write below binary dir");
  EXPECT_EQ(host.labels.at("priority"), "Error");
  EXPECT_EQ(host.labels.at("output_fields.fd.name"), "/bin/hack");
  EXPECT_EQ(host.starts_unix_ms, 1558107116746);

  const Alert test = falcoFixture("falcosidekick-test-input.json").alerts[0];
  EXPECT_EQ(test.labels.at("tags"), "example,test");  // sent as ["test","example"]
  EXPECT_EQ(test.labels.at("source"), "syscalls");
  EXPECT_EQ(test.labels.at("hostname"), "test-host");
  EXPECT_EQ(test.labels.at("output_fields.proc.tty"), "1234");
  EXPECT_EQ(test.starts_unix_ms, 978311400000);  // 2001-01-01T01:10:00Z
  EXPECT_EQ(test.annotations.at("output"), "This is a test from falcosidekick");
}

TEST(FalcoPayload, FalcosidekickUuidIsTheFingerprint) {
  const std::string body = editedFixture("falcosidekick-test-input.json", [](PayloadJson& d) {
    d["uuid"] = "0b5c7d3e-1f2a-4b6c-8d9e-a1b2c3d4e5f6";
  });
  EXPECT_EQ(mustParse(parseFalcoPayload(body)).alerts[0].fingerprint,
            "0b5c7d3e-1f2a-4b6c-8d9e-a1b2c3d4e5f6");
}

TEST(FalcoPayload, FieldValuesOfEveryKind) {
  const Alert a =
      mustParse(parseFalcoPayload(R"({"rule":"r","output_fields":{"b":true,"f":false,"d":0.5,)"
                                  R"("u":18446744073709551615,"l":["nginx","busybox",3],"e":[]}})"))
          .alerts[0];
  EXPECT_EQ(a.labels.at("output_fields.b"), "true");
  EXPECT_EQ(a.labels.at("output_fields.f"), "false");
  EXPECT_EQ(a.labels.at("output_fields.d"), "0.5");
  EXPECT_EQ(a.labels.at("output_fields.u"), "18446744073709551615");
  EXPECT_EQ(a.labels.at("output_fields.l"), "nginx,busybox,3");  // a list field, in its order
  EXPECT_EQ(a.labels.at("output_fields.e"), "");
}

TEST(FalcoPayload, WrongShapes) {
  EXPECT_EQ(falcoError(R"({"priority":"Notice"})"), "rule: missing (every Falco event has one)");
  EXPECT_EQ(falcoError(R"({"rule":7})"), "rule: expected a string, got number");
  EXPECT_EQ(falcoError(R"({"rule":""})"), "rule: empty");
  EXPECT_EQ(falcoError(R"({"rule":null})"), "rule: missing (every Falco event has one)");
  EXPECT_EQ(falcoError(R"([{"rule":"r"}])"), "body: expected an object, got array");
  EXPECT_EQ(falcoError(R"({"rule":"r","tags":"k8s"})"),
            "tags: expected an array of strings, got string");
  EXPECT_EQ(falcoError(R"({"rule":"r","tags":["a",1]})"), "tags[1]: expected a string, got number");
  EXPECT_EQ(falcoError(R"({"rule":"r","output_fields":[]})"),
            "output_fields: expected an object, got array");
  EXPECT_EQ(falcoError(R"({"rule":"r","output_fields":{"x":{"y":1}}})"),
            "output_fields.x: expected a string, number, boolean, null or list, got object");
  EXPECT_EQ(falcoError(R"({"rule":"r","output_fields":{"x":[[1]]}})"),
            "output_fields.x[0]: expected a string, number or boolean, got array");
  EXPECT_EQ(falcoError(R"({"rule":"r","output_fields":{"":"v"}})"), "output_fields: an empty name");
  EXPECT_THAT(falcoError(R"({"rule":"r","time":"2023-05-25 13:44:05Z"})"),
              StartsWith("time: \"2023-05-25 13:44:05Z\" is not an RFC 3339 time"));
}

TEST(FalcoPayload, Bounds) {
  PayloadJson event = {{"rule", "r"}, {"priority", "Notice"}};
  for (std::size_t i = 0; i < kMaxLabels - 2; ++i) event["output_fields"][absl::StrCat("f", i)] = 1;
  EXPECT_EQ(mustParse(parseFalcoPayload(event.dump())).alerts[0].labels.size(), kMaxLabels);
  event["output_fields"]["one-more"] = 1;
  EXPECT_THAT(falcoError(event.dump()), HasSubstr("more than the limit of 128 labels"));

  // A long `output` (a command line in words) is cut, not the event refused; at a UTF-8 boundary.
  event = {{"rule", "r"}, {"output", std::string(kMaxLabelBytes - 4, 'o') + "\u00e9\u00e9\u00e9"}};
  const std::string cut =
      mustParse(parseFalcoPayload(event.dump())).alerts[0].annotations["output"];
  EXPECT_LE(cut.size(), kMaxLabelBytes);
  EXPECT_TRUE(cut.ends_with("o\u00e9...") || cut.ends_with("o...")) << cut.substr(cut.size() - 8);
  event = {{"rule", "r"}, {"tags", PayloadJson::array()}};
  for (int i = 0; i < 1000; ++i) event["tags"].push_back("tag-" + std::to_string(i));
  EXPECT_THAT(falcoError(event.dump()), HasSubstr("tags: more than the limit of 4096 bytes"));
  event = {{"rule", "r"}, {"output_fields", {{"l", PayloadJson::array()}}}};
  for (int i = 0; i < 5000; ++i) event["output_fields"]["l"].push_back("");
  EXPECT_THAT(falcoError(event.dump()), StartsWith("output_fields.l: 4097 bytes"));
}

// ---- The generic list ----

TEST(JsonAlerts, ResolvedWhenEndsAtIsNotAfterNow) {
  const AlertBatch b = mustParse(parseJsonAlerts(
      R"([{"labels":{"hostname":"h1"},"endsAt":"2025-12-01T14:39:59Z"},)"
      R"({"labels":{"hostname":"h2"},"endsAt":"2025-12-01T14:40:00Z"},)"
      R"({"labels":{"hostname":"h3"},"endsAt":"2025-12-01T14:40:00.001Z"},)"
      R"({"labels":{"hostname":"h4"},"endsAt":"0001-01-01T00:00:00Z"},)"
      R"({"labels":{"hostname":"h5"},"annotations":{"s":"x"},"fingerprint":"siem-77",)"
      R"("startsAt":"2025-12-01T15:00:00+01:00","generatorURL":"x","status":{"state":"active"}}])",
      kNow));
  EXPECT_EQ(b.format, AlertFormat::kJson);
  EXPECT_EQ(b.receiver, "");
  ASSERT_EQ(b.alerts.size(), 5u);
  EXPECT_TRUE(b.alerts[0].resolved);
  EXPECT_TRUE(b.alerts[1].resolved);
  EXPECT_FALSE(b.alerts[2].resolved);
  EXPECT_FALSE(b.alerts[3].resolved);
  EXPECT_EQ(b.alerts[3].ends_unix_ms, 0);
  EXPECT_FALSE(b.alerts[4].resolved);
  EXPECT_EQ(b.alerts[4].fingerprint, "siem-77");
  EXPECT_EQ(b.alerts[4].starts_unix_ms, kNow - 40 * 60 * 1000);
  EXPECT_EQ(b.alerts[0].fingerprint, labelsFingerprint({{"hostname", "h1"}}));
}

TEST(JsonAlerts, WrongShapesAndBounds) {
  EXPECT_EQ(jsonError(R"({"labels":{}})"), "body: expected an array of alerts, got object");
  EXPECT_EQ(jsonError(R"([{"labels":{}},{"annotations":{}}])"), "[1].labels: missing");
  EXPECT_EQ(jsonError(R"([{"labels":{"a":null}}])"), "[0].labels.a: expected a string, got null");
  EXPECT_EQ(jsonError(R"(["x"])"), "[0]: expected an object, got string");
  EXPECT_EQ(mustParse(parseJsonAlerts(jsonList(kMaxAlertsPerPayload), kNow)).alerts.size(),
            kMaxAlertsPerPayload);
  EXPECT_EQ(jsonError(jsonList(kMaxAlertsPerPayload + 1)),
            "body: 1001 alerts, more than the limit of 1000");
  EXPECT_EQ(jsonError(jsonList(1, std::string(kMaxLabelBytes + 1, 'x'))),
            "[0].labels.a: 4097 bytes, more than the limit of 4096");
}

// ---- What every parser refuses before looking at the shape ----

TEST(AlertPayloadBody, MalformedEmptyAndOversized) {
  for (const auto& parse : {+[](std::string_view b) { return parseAlertmanagerPayload(b); },
                            +[](std::string_view b) { return parseFalcoPayload(b); },
                            +[](std::string_view b) { return parseJsonAlerts(b, kNow); }}) {
    EXPECT_EQ(errorOf(parse("")), "body: empty");
    EXPECT_THAT(errorOf(parse(R"({"alerts": [)")), StartsWith("body: not JSON: parse error"));
    EXPECT_THAT(errorOf(parse(R"({"rule":"r"} trailing)")), StartsWith("body: not JSON"));
    EXPECT_THAT(errorOf(parse("[1,2,]")), HasSubstr("line 1, column 6"));
    EXPECT_EQ(errorOf(parse(std::string(kMaxAlertBodyBytes + 1, ' '))),
              "body: 1048577 bytes, more than the limit of 1048576");
  }
}

TEST(AlertPayloadBody, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep65 = std::string(65, '[') + std::string(65, ']');
  EXPECT_EQ(jsonError(deep65), "body: nested more than 64 deep at byte 64");
  // 64 is within bounds: refused for its shape, not its depth.
  const std::string deep64 = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(jsonError(deep64), "[0]: expected an object, got array");
  // A megabyte of '[' (the stack overflow the bound is for) is refused at once.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(falcoError(std::string(kMaxAlertBodyBytes, '[')), StartsWith("body: nested"));
  EXPECT_THAT(falcoError(std::string(kMaxAlertBodyBytes / 2, '{')), StartsWith("body: nested"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // Brackets inside strings (escaped quotes included) are text, not nesting.
  const std::string brackets(100, '[');
  const std::string in_string = absl::StrCat(R"([{"labels":{"a":"\")", brackets, R"("}}])");
  EXPECT_EQ(mustParse(parseJsonAlerts(in_string, kNow)).alerts[0].labels.at("a"),
            absl::StrCat("\"", brackets));
}

// A Falco event whose unknown member "x" is an object of about `bytes` of distinct keys.
std::string eventWithManyKeys(std::size_t bytes) {
  std::string body = R"({"rule":"r","x":{"k":0)";
  for (int i = 0; body.size() < bytes - 32; ++i) absl::StrAppend(&body, ",\"", i, "\":0");
  return body + "}}";
}

TEST(AlertPayloadBody, ManyKeysParseInLinearTime) {
  // An ordered_json object finds keys by linear search: a megabyte of distinct keys took 6 s,
  // 64 times an eighth of it. Parsed into std::map, it takes about 8 times an eighth.
  const std::string whole = eventWithManyKeys(kMaxAlertBodyBytes);
  const std::string eighth = eventWithManyKeys(kMaxAlertBodyBytes / 8);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(parseFalcoPayload(eighth).ok());
  const auto eight_eighths = std::chrono::steady_clock::now() - start;
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(parseFalcoPayload(whole).ok());
  const auto one_whole = std::chrono::steady_clock::now() - start;
  EXPECT_LT(one_whole, 4 * eight_eighths);
}

TEST(AlertPayloadBody, NotUtf8IsRefused) {
  EXPECT_THAT(falcoError("{\"rule\":\"r\xff\"}"), StartsWith("body: not JSON"));
  EXPECT_THAT(falcoError("{\"rule\":\"\xc0\xaf\"}"), StartsWith("body: not JSON"));  // overlong
  EXPECT_THAT(falcoError("{\"rule\":\"\xed\xa0\x80\"}"),
              StartsWith("body: not JSON"));                                      // surrogate
  EXPECT_THAT(falcoError(R"({"rule":"\ud800"})"), StartsWith("body: not JSON"));  // lone, escaped
  EXPECT_THAT(jsonError("[{\"labels\":{\"a\xfe\":\"b\"}}]"), StartsWith("body: not JSON"));
  // A pair of escaped surrogates is one character, and UTF-8.
  EXPECT_EQ(mustParse(parseFalcoPayload(R"({"rule":"\ud83d\ude00"})")).alerts[0].labels.at("rule"),
            "\xf0\x9f\x98\x80");
}

TEST(AlertPayloadBody, MessagesDoNotEchoControlCharacters) {
  const std::string message =
      alertmanagerError(R"({"alerts":[{"status":"firing","labels":{"a\u001b[31m":1}}]})");
  EXPECT_EQ(message, "alerts[0].labels.a?[31m: expected a string, got number");
  EXPECT_THAT(alertmanagerError(R"({"alerts":[{"status":"\u202efiring","labels":{}}]})"),
              HasSubstr(R"(got "?firing")"));
}

// ---- Shared helpers ----

TEST(Rfc3339, AcceptsWhatTheSendersWrite) {
  EXPECT_EQ(*parseRfc3339UnixMs("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(*parseRfc3339UnixMs("2026-12-01T18:58:18.398244425Z"), kSshStartsMs);
  EXPECT_EQ(*parseRfc3339UnixMs("2026-12-01t18:58:18.398z"), kSshStartsMs);
  EXPECT_EQ(*parseRfc3339UnixMs("2026-12-01T20:28:18.39+01:30"), kSshStartsMs - 8);
  EXPECT_EQ(*parseRfc3339UnixMs("2026-12-01T16:58:18.3-02:00"), kSshStartsMs - 98);
  EXPECT_EQ(*parseRfc3339UnixMs("2024-02-29T00:00:00Z"), 1709164800000);  // leap day
  EXPECT_EQ(*parseRfc3339UnixMs("2016-12-31T23:59:60Z"), 1483228800000);  // leap second
  EXPECT_EQ(*parseRfc3339UnixMs("1969-12-31T23:59:59.5Z"), -500);
  EXPECT_EQ(*parseRfc3339UnixMs("0001-01-01T00:00:00Z"), 0);  // Go's zero time: none
  EXPECT_EQ(*parseRfc3339UnixMs("0001-01-01T00:00:00.001Z"), -62135596799999);
  EXPECT_EQ(*parseRfc3339UnixMs(""), 0);
}

TEST(Rfc3339, RefusesEverythingElse) {
  for (const char* bad :
       {"2026-12-01", "2026-12-01T18:58:18", "2026-12-01 18:58:18Z", "2026-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-12-01T24:00:00Z",
        "2026-12-01T18:60:00Z", "2026-12-01T18:58:61Z", "2026-12-01T18:58:18.Z",
        "2026-12-01T18:58:18Z ", "2026-12-01T18:58:18+0100", "2026-12-01T18:58:18+24:00",
        "+2026-12-01T18:58:18Z", "26-12-01T18:58:18Z", "2026-1-01T18:58:18Z", "now"}) {
    EXPECT_FALSE(parseRfc3339UnixMs(bad).ok()) << bad;
  }
}

TEST(PayloadCommon, FormatNamesAndEmptyLabels) {
  EXPECT_STREQ(alertFormatName(AlertFormat::kAlertmanager), "alertmanager");
  EXPECT_STREQ(alertFormatName(AlertFormat::kFalco), "falco");
  EXPECT_STREQ(alertFormatName(AlertFormat::kJson), "json");
  // SHA-256 of "", first 16 bytes.
  EXPECT_EQ(labelsFingerprint({}), "e3b0c44298fc1c149afbf4c8996fb924");
  // The separator keeps {"ab": "c"} and {"a": "bc"} apart.
  EXPECT_NE(labelsFingerprint({{"ab", "c"}}), labelsFingerprint({{"a", "bc"}}));
}

// Every Alertmanager and Falco capture in the fixtures directory is one a test above reads, so
// a capture added later does not go untested.
TEST(AlertPayloadFixtures, EveryCaptureIsCovered) {
  const std::set<std::string> covered = {"alertmanager-v4-firing-group.json",
                                         "alertmanager-v4-mixed-firing-resolved.json",
                                         "alertmanager-v4-resolved.json",
                                         "alertmanager-v4-truncated-max-alerts-2.json",
                                         "alertmanager-v4-single-default-route.json",
                                         "alertmanager-v4-legacy-issue1051.json",
                                         "falco-json-output-terminal-shell.json",
                                         "falco-json-output-k8saudit.json",
                                         "falco-json-output-legacy-nulls.json",
                                         "falco-json-output-write-below-binary-dir.json",
                                         "falcosidekick-test-input.json"};
  std::size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtures)) {
    const std::string name = entry.path().filename().string();
    const bool alertmanager = name.rfind("alertmanager-", 0) == 0 && name.ends_with(".json");
    const bool falco = name.rfind("falco", 0) == 0 && name.ends_with(".json");
    if (!alertmanager && !falco) continue;
    ++seen;
    EXPECT_EQ(covered.count(name), 1u) << name << " has no test of its own";
    EXPECT_TRUE(alertmanager ? parseAlertmanagerPayload(fixture(name)).ok()
                             : parseFalcoPayload(fixture(name)).ok())
        << name;
  }
  EXPECT_EQ(seen, covered.size());
}

}  // namespace
}  // namespace warden
