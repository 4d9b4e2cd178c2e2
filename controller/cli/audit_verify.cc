#include "controller/cli/audit_verify.h"

#include <cstdio>
#include <set>

#include "absl/strings/strip.h"
#include "common/audit/evidence_verifier.h"
#include "common/audit/export_verifier.h"
#include "common/audit/log_entry.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/json.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

// The verdict as --json gives it.
Json reportJson(const AuditReport& r, bool evidence_ok,
                const std::vector<EvidenceVerdict>& verdicts) {
  Json items = Json::array();
  for (const auto& v : verdicts) {
    Json checks = Json::array();
    for (const auto& c : v.checks) {
      checks.push_back(Json{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    }
    items.push_back(Json{{"id", v.evidence_id},
                         {"ok", v.ok},
                         {"content", v.files.content_path},
                         {"manifest", v.files.manifest_path},
                         {"size", v.size},
                         {"sha256", v.sha256},
                         {"receipt_index", v.receipt_index},
                         {"checks", std::move(checks)}});
  }
  Json types = Json::object();
  for (const auto& [t, n] : r.entries_by_type) types[t] = n;
  return Json{{"ok", r.ok && evidence_ok},
              {"bad_index", r.bad_index},
              {"error", r.error},
              {"origin", r.origin},
              {"vkey", r.vkey},
              {"vkey_pinned", r.vkey_pinned},
              {"tree_size", r.tree_size},
              {"root_hash", r.root_hex},
              {"entries_by_type", std::move(types)},
              {"checkpoints", r.checkpoints},
              {"signatures_verified", r.signatures_verified},
              {"previous_checkpoints_checked", r.previous_checkpoints_checked},
              {"evidence", std::move(items)}};
}

}  // namespace

int auditVerify(const Globals& g, const std::string& file, const std::string& vkey_path,
                const std::vector<std::string>& checkpoint_paths,
                const std::vector<std::string>& evidence_paths) {
  AuditVerifyOptions options;
  // Evidence is vouched for by the log only if the log's key is the auditor's own copy: a log
  // checked against the key written in it could have been made to match forged evidence.
  if (!evidence_paths.empty() && vkey_path.empty()) {
    printError("--evidence needs --vkey: the controller's log.vkey, as you hold it");
    return kExitBadInput;
  }
  // Evidence items: found before the (long) log check, so a wrong name fails at once.
  std::vector<EvidenceFiles> evidence;
  std::set<std::string> actions;
  for (const auto& p : evidence_paths) {
    auto f = locateEvidenceFiles(p);
    if (!f.ok()) {
      printError(std::string(f.status().message()));
      return kExitBadInput;
    }
    actions.insert(evidenceActionId(evidenceIdOfFile(f->content_path)));
    evidence.push_back(*f);
  }
  EvidenceLogIndex index(std::move(actions));
  if (!evidence.empty()) {
    options.on_entry = [&index](std::uint64_t i, const LogEntry& e) { index.observe(i, e); };
  }
  if (!vkey_path.empty()) {
    auto vkey = readFile(vkey_path);
    if (!vkey.ok()) {
      printError(std::string(vkey.status().message()));
      return kExitBadInput;
    }
    options.pinned_vkey = std::string(absl::StripTrailingAsciiWhitespace(*vkey));
  }
  for (const auto& p : checkpoint_paths) {
    auto cp = readFile(p);
    if (!cp.ok()) {
      printError(std::string(cp.status().message()));
      return kExitBadInput;
    }
    options.previous_checkpoints.push_back(*cp);
  }
  auto report = verifyAuditExport(file, options);
  if (!report.ok()) {
    printError(std::string(report.status().message()));
    return kExitBadInput;
  }
  const AuditReport& r = *report;
  // The evidence, checked against what the log (if it verified) says.
  std::vector<EvidenceVerdict> verdicts;
  bool evidence_ok = true;
  if (r.ok) {
    for (const auto& f : evidence) {
      auto v = verifyEvidenceFiles(f, index);
      if (!v.ok()) {
        printError(std::string(v.status().message()));
        return kExitBadInput;
      }
      evidence_ok = evidence_ok && v->ok;
      verdicts.push_back(std::move(*v));
    }
  }
  if (g.json) {
    std::printf("%s\n", jsonLine(reportJson(r, evidence_ok, verdicts)).c_str());
    return r.ok && evidence_ok ? kExitOk : kExitFailed;
  }
  if (!r.ok) {
    printAuditFailed(r.error);
    return kExitFailed;
  }
  printAuditVerified(r, verdicts);
  if (!evidence_ok) {
    printAuditFailed("evidence does not match the log");
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace warden::cli
