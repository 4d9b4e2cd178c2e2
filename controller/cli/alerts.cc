#include "controller/cli/alerts.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/alerts/alertmanager_payload.h"
#include "common/alerts/decide.h"
#include "common/alerts/falco_payload.h"
#include "common/alerts/json_payload.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "common/command.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/json.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

absl::StatusOr<std::string> readRulesFile(const std::string& file) {
  auto text = readFile(file, kMaxRulesFileBytes + 1);
  if (!text.ok()) return text.status();
  if (text->size() > kMaxRulesFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is larger than %d bytes", file, kMaxRulesFileBytes));
  }
  return text;
}

// The rules file, parsed; on error says so (with the file's name before the line) and fails.
absl::StatusOr<RuleSet> loadRules(const std::string& file, std::string* text) {
  auto read = readRulesFile(file);
  if (!read.ok()) return read.status();
  auto rules = parseRules(*read);
  if (!rules.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", file, rules.status().message()));
  }
  if (text) *text = std::move(*read);
  return rules;
}

// An empty past: `rules test` decides as if nothing had happened before.
class NoHistory final : public AutomationHistory {
 public:
  bool decidedSince(const std::string&, std::int64_t) override { return false; }
  std::uint32_t actedSince(const std::string&, std::int64_t) override { return 0; }
  std::optional<std::int64_t> lastContainmentChange(const std::string&) override {
    return std::nullopt;
  }
  bool breakerOpen() override { return false; }
};

// Offline, every name is taken as an enrolled host (the controller checks for real).
class AnyHost final : public HostDirectory {
 public:
  std::vector<std::string> hostsNamed(const std::string& value) override { return {value}; }
};

absl::StatusOr<AlertFormat> formatFor(const std::string& name, const std::string& body) {
  if (name == "alertmanager") return AlertFormat::kAlertmanager;
  if (name == "falco") return AlertFormat::kFalco;
  if (name == "json") return AlertFormat::kJson;
  if (!name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown --format '%s' (alertmanager, falco or json)", name));
  }
  Json j = Json::parse(body, nullptr, false);
  if (j.is_array()) return AlertFormat::kJson;
  if (j.is_object() && j.contains("alerts")) return AlertFormat::kAlertmanager;
  if (j.is_object() && j.contains("rule")) return AlertFormat::kFalco;
  return absl::InvalidArgumentError(
      "cannot tell the payload's format from its shape: give --format alertmanager|falco|json");
}

absl::StatusOr<AlertBatch> parsePayload(AlertFormat f, const std::string& body) {
  switch (f) {
    case AlertFormat::kAlertmanager:
      return parseAlertmanagerPayload(body);
    case AlertFormat::kFalco:
      return parseFalcoPayload(body);
    case AlertFormat::kJson:
      return parseJsonAlerts(body, nowUnixMs());
  }
  return absl::InvalidArgumentError("unknown format");
}

void printAlertsTable(const v1::ListAlertsResponse& resp) {
  if (resp.alerts().empty()) {
    std::printf("No alerts received.\n");
    return;
  }
  std::printf("%-19s  %-14s  %-8s  %-22s  %-16s  %-16s  %-12s  %s\n", "RECEIVED (UTC)", "SOURCE",
              "STATUS", "ALERT", "DECISION", "REASON", "HOST", "ACTION");
  for (const auto& a : resp.alerts()) {
    auto name = a.labels().find("alertname");
    if (name == a.labels().end()) name = a.labels().find("rule");
    const std::string title = name == a.labels().end() ? a.id() : name->second;
    std::string action = a.action_id().empty() ? "-" : a.action_id();
    if (!a.action_state().empty()) action += " (" + a.action_state() + ")";
    std::printf("%-19s  %-14s  %-8s  %-22s  %-16s  %-16s  %-12s  %s\n",
                formatTime(a.received_unix_ms()).c_str(), printable(a.source()).c_str(),
                a.status().c_str(), printable(title.substr(0, 22)).c_str(), a.outcome().c_str(),
                a.reason().c_str(), a.host().empty() ? "-" : printable(a.host()).c_str(),
                printable(action).c_str());
    std::printf("    %s  (%s; log entries %llu, %llu)\n", printable(a.why()).c_str(),
                a.id().c_str(), static_cast<unsigned long long>(a.alert_log_index()),
                static_cast<unsigned long long>(a.decision_log_index()));
  }
}

void printRules(const v1::ShowRulesResponse& r) {
  if (r.version().empty()) {
    std::printf("No rules applied: every alert is decided no-action (no-rule).\n");
    return;
  }
  std::printf("# rules version %s, applied by %s at %s UTC (log entry %llu)\n", r.version().c_str(),
              printable(r.applied_by()).c_str(), formatTime(r.applied_unix_ms()).c_str(),
              static_cast<unsigned long long>(r.log_index()));
  std::fputs(printableLines(r.yaml(), "\n").c_str(), stdout);
  if (!r.yaml().empty() && r.yaml().back() != '\n') std::printf("\n");
}

}  // namespace

int alertsSourceAdd(const Globals& g, const std::string& name, const std::string& cert_out) {
  v1::AddAlertSourceRequest req;
  req.set_name(name);
  std::string key;
  if (!cert_out.empty()) {
    auto made = crypto::generateEcKeyPem();
    auto csr = made.ok() ? crypto::createCsr(*made, "alert-source:" + name)
                         : absl::StatusOr<std::string>(made.status());
    if (!csr.ok()) {
      printError(std::string(csr.status().message()));
      return kExitFailed;
    }
    key = *made;
    req.set_client_csr_pem(*csr);
  }
  auto show = [&](Client&, const v1::AddAlertSourceResponse& resp) {
    if (!cert_out.empty()) {
      for (const auto& [path, data, mode] :
           {std::tuple{cert_out + ".key", key, 0600u},
            std::tuple{cert_out + ".pem", resp.client_cert_pem(), 0644u}}) {
        if (auto s = writeFileAtomic(path, data, mode); !s.ok()) {
          printError(std::string(s.message()));
          return kExitFailed;
        }
      }
    }
    if (g.json) {
      Json j;
      j["name"] = name;
      j["token"] = resp.token();
      j["intake_address"] = resp.intake_address();
      if (!cert_out.empty()) {
        j["client_cert"] = cert_out + ".pem";
        j["client_key"] = cert_out + ".key";
      }
      std::printf("%s\n", dumpJson(j).c_str());
      return kExitOk;
    }
    std::printf("%s\n", resp.token().c_str());
    if (isatty(STDERR_FILENO)) {
      std::fprintf(stderr,
                   "Bearer token of alert source %s, shown once (the controller keeps only its "
                   "hash). Senders POST to https://%s/v1/alerts/{alertmanager,falco,json} with "
                   "'Authorization: Bearer <token>' and pin the controller's ca.pem.\n",
                   name.c_str(), resp.intake_address().c_str());
    }
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::AddAlertSource, req, absl::Seconds(15), show);
}

int alertsList(const Globals& g, unsigned limit) {
  v1::ListAlertsRequest req;
  req.set_limit(limit);
  return showAnswer(g, &v1::Operator::Stub::ListAlerts, req, absl::Seconds(30), printAlertsTable);
}

int rulesCheck(const Globals& g, const std::string& file) {
  auto rules = loadRules(file, nullptr);
  if (!rules.ok()) {
    if (g.json) {
      Json j;
      j["ok"] = false;
      j["error"] = std::string(rules.status().message());
      std::printf("%s\n", dumpJson(j).c_str());
    } else {
      printError(std::string(rules.status().message()));
    }
    return kExitBadInput;
  }
  std::size_t enforcing = 0;
  for (const auto& r : rules->rules) enforcing += r.mode == RuleMode::kEnforce ? 1 : 0;
  if (g.json) {
    Json j;
    j["ok"] = true;
    j["rules"] = rules->rules.size();
    j["enforce"] = enforcing;
    std::printf("%s\n", dumpJson(j).c_str());
  } else {
    std::printf("%s: %zu rules (%zu enforce, the others dry-run or approve)\n", file.c_str(),
                rules->rules.size(), enforcing);
  }
  return kExitOk;
}

int rulesTest(const Globals& g, const std::string& file, const std::string& alert_file,
              const std::string& format_name, const std::string& source) {
  auto rules = loadRules(file, nullptr);
  if (!rules.ok()) {
    printError(std::string(rules.status().message()));
    return kExitBadInput;
  }
  auto body = readFile(alert_file, kMaxAlertBodyBytes + 1);
  if (!body.ok()) {
    printError(std::string(body.status().message()));
    return kExitBadInput;
  }
  auto format = formatFor(format_name, *body);
  auto batch =
      format.ok() ? parsePayload(*format, *body) : absl::StatusOr<AlertBatch>(format.status());
  if (!batch.ok()) {
    printError(absl::StrFormat("%s: %s", alert_file, batch.status().message()));
    return kExitBadInput;
  }
  // Without --source, a rule limited to named senders matches as if one of them sent it.
  if (source.empty()) {
    for (auto& r : rules->rules) r.senders.clear();
  }
  NoHistory history;
  AnyHost hosts;
  AlertContext ctx{source, *format, batch->receiver, nowUnixMs(), 0};
  // As the controller counts an alert group's hosts (controller/alerts/automation.cc).
  std::set<std::string> group;
  for (const auto& a : batch->alerts) {
    const AlertRule* rule = a.resolved ? nullptr : firstMatchingRule(*rules, a, ctx);
    if (rule == nullptr || rule->mode == RuleMode::kDryRun) continue;
    if (auto pick = pickHost(*rule, a, hosts); !pick.host.empty()) group.insert(pick.host);
  }
  ctx.group_hosts = static_cast<std::uint32_t>(group.size());
  Json out = Json::array();
  for (const auto& a : batch->alerts) {
    const Decision d = decide(&*rules, a, ctx, history, hosts);
    Json j;
    j["fingerprint"] = a.fingerprint;
    j["status"] = a.resolved ? "resolved" : "firing";
    j["rule"] = d.rule;
    j["host"] = d.host;
    j["decision"] = d.outcome;
    j["reason"] = d.reason;
    j["action"] = d.action;
    j["why"] = d.why;
    out.push_back(std::move(j));
  }
  if (g.json) {
    std::printf("%s\n", dumpJson(out, 2).c_str());
    return kExitOk;
  }
  for (const auto& j : out) {
    const std::string rule = j["rule"].get<std::string>();
    const std::string host = j["host"].get<std::string>();
    std::printf("%s alert %s: %s (%s)%s%s\n  %s\n", j["status"].get<std::string>().c_str(),
                printable(j["fingerprint"].get<std::string>()).c_str(),
                j["decision"].get<std::string>().c_str(), j["reason"].get<std::string>().c_str(),
                rule.empty() ? "" : (", rule " + printable(rule)).c_str(),
                host.empty() ? "" : (", host " + printable(host)).c_str(),
                printable(j["why"].get<std::string>()).c_str());
  }
  std::printf(
      "(offline: every host name is taken as enrolled, and no earlier alert counts "
      "toward dedupe, budgets or cooldown)\n");
  return kExitOk;
}

int rulesApply(const Globals& g, const std::string& file, const std::string& reason) {
  std::string text;
  auto rules = loadRules(file, &text);
  if (!rules.ok()) {
    printError(std::string(rules.status().message()) + "; nothing applied");
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    Request r;
    r.kind = kApplyRulesKind;
    r.reason = reason;
    r.args = {"rules=" + text};
    auto signed_request = signedRequest(c, std::move(r));
    if (!signed_request.ok()) {
      printError(std::string(signed_request.status().message()));
      return kExitBadInput;
    }
    v1::ApplyRulesRequest req;
    req.set_request(signed_request->first);
    req.set_request_signature(signed_request->second);
    v1::ApplyRulesResponse resp;
    if (auto s = c.call(&v1::Operator::Stub::ApplyRules, req, &resp, absl::Seconds(30)); !s.ok()) {
      return reportRpcError(s);
    }
    if (g.json) {
      printMessageJson(resp);
    } else {
      std::printf("Applied %s: %u rules, version %s (log entry %llu)\n", file.c_str(), resp.rules(),
                  resp.version().c_str(), static_cast<unsigned long long>(resp.log_index()));
    }
    return kExitOk;
  });
}

int rulesShow(const Globals& g) {
  return showAnswer(g, &v1::Operator::Stub::ShowRules, v1::ShowRulesRequest{}, absl::Seconds(15),
                    printRules);
}

}  // namespace warden::cli
