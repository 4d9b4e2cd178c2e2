#include "controller/cli/audit.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/audit/export_format.h"
#include "common/audit/export_writer.h"
#include "common/audit/key_record.h"
#include "common/audit/log_entry.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/json.h"
#include "common/merkle.h"
#include "common/note.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

// Every entry of the log from `start` to `end`, page by page.
absl::StatusOr<std::vector<std::string>> readLog(Client& c, std::uint64_t start,
                                                 std::uint64_t end) {
  std::vector<std::string> out;
  while (start + out.size() < end) {
    v1::ReadLogRequest req;
    req.set_start(start + out.size());
    v1::ReadLogResponse resp;
    auto s = c.call(&v1::Operator::Stub::ReadLog, req, &resp, absl::Seconds(60));
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    if (resp.entries().empty()) break;
    for (auto& e : *resp.mutable_entries()) {
      if (start + out.size() >= end) break;
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace

absl::Status forEachLogEntry(
    Client& c, std::uint64_t start, std::uint64_t end,
    const std::function<absl::Status(std::uint64_t, std::string_view)>& each) {
  std::uint64_t next = start;
  while (next < end) {
    v1::ReadLogRequest req;
    req.set_start(next);
    v1::ReadLogResponse resp;
    auto s = c.call(&v1::Operator::Stub::ReadLog, req, &resp, absl::Seconds(60));
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    if (resp.entries().empty()) {
      return absl::DataLossError(
          absl::StrFormat("the controller served no entry at %d of %d", next, end));
    }
    for (const auto& e : resp.entries()) {
      if (next >= end) break;
      if (auto st = each(next, e); !st.ok()) return st;
      ++next;
    }
  }
  return absl::OkStatus();
}

namespace {

// One log entry as a timeline row: what happened, in a line (raw text: render escapes it).
std::string summarize(const LogEntry& e) {
  if (e.type == entry_type::kRequest) {
    auto r = decodeRequest(e.body);
    if (!r.ok()) return "undecodable request";
    std::string what = r->kind;
    if (r->all_hosts) what += " --all";
    if (!r->hosts.empty()) what += " " + absl::StrJoin(r->hosts, ",");
    if (!r->addresses.empty()) what += " " + absl::StrJoin(r->addresses, ",");
    if (!r->args.empty()) what += " " + absl::StrJoin(r->args, " ");
    if (!r->allow.empty()) what += " allow " + absl::StrJoin(r->allow, ",");
    if (!r->reason.empty()) what += " reason: " + r->reason;
    return absl::StrFormat("requested %s (%s)", what, r->id);
  }
  if (e.type == entry_type::kDispatch) {
    auto c = decodeCommand(e.body);
    if (!c.ok()) return "undecodable command";
    return absl::StrFormat("dispatched %s %s to %s%s", c->kind, c->id, c->host_id,
                           e.ref.empty() ? " (controller's own)" : " for " + e.ref);
  }
  if (e.type == entry_type::kReceipt) {
    auto r = decodeReceipt(e.body);
    if (!r.ok()) return "undecodable receipt";
    return absl::StrFormat("%s %s %s: %s", receiptStatusName(r->status), r->kind, r->command_id,
                           r->message);
  }
  if (e.type == entry_type::kOperator && !e.signature.empty()) {
    // An admin's signed operator change.
    auto r = decodeRequest(e.body);
    auto change = r.ok() ? operatorChangeOf(*r) : absl::StatusOr<OperatorChange>(r.status());
    if (!change.ok()) return "undecodable operator change";
    const std::string detail = e.detail.empty() ? "" : ": " + e.detail;
    if (change->revoke) return absl::StrFormat("operator key %s revoked%s", change->name, detail);
    return absl::StrFormat("operator key %s (%s) %s%s", change->name, change->role,
                           shortHash(crypto::hex(crypto::sha256(change->signing_key))), detail);
  }
  if (e.type == entry_type::kKey || e.type == entry_type::kOperator ||
      e.type == entry_type::kEnrollment) {
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return "undecodable key record";
    const std::string detail = e.detail.empty() ? "" : ": " + e.detail;
    if (k->purpose == "operator") {
      return absl::StrFormat("operator key %s (%s) %s%s", k->subject, k->role,
                             shortHash(crypto::hex(crypto::sha256(k->public_key))), detail);
    }
    if (k->purpose == "agent") {
      return absl::StrFormat("agent key of %s %s%s", k->subject,
                             shortHash(crypto::hex(crypto::sha256(k->public_key))), detail);
    }
    return absl::StrFormat("%s key %s", k->purpose,
                           shortHash(crypto::hex(crypto::sha256(k->public_key)))) +
           detail;
  }
  return e.detail;
}

// Whether an entry concerns `host`: it names the host, or it is a request for it.
bool mentions(const LogEntry& e, const std::string& host) {
  if (e.host_id == host) return true;
  if (e.type != entry_type::kRequest) return false;
  auto r = decodeRequest(e.body);
  return r.ok() &&
         (r->all_hosts || std::find(r->hosts.begin(), r->hosts.end(), host) != r->hosts.end());
}

}  // namespace

int auditShow(const Globals& g, const std::string& host, std::uint64_t last) {
  return withClient(g, [&](Client& c) {
    v1::ReadLogRequest probe;
    probe.set_limit(1);
    v1::ReadLogResponse size_resp;
    auto s = c.call(&v1::Operator::Stub::ReadLog, probe, &size_resp, absl::Seconds(15));
    if (!s.ok()) return reportRpcError(s);
    const std::uint64_t size = size_resp.tree_size();
    // With --host, read everything and keep the host's rows; otherwise only the last rows.
    const std::uint64_t start = host.empty() && last > 0 && last < size ? size - last : 0;
    auto entries = readLog(c, start, size);
    if (!entries.ok()) {
      printError(std::string(entries.status().message()));
      return kExitFailed;
    }
    std::vector<TimelineRow> rows;
    for (std::size_t i = 0; i < entries->size(); ++i) {
      auto e = decodeLogEntry((*entries)[i]);
      if (!e.ok()) {
        printError(
            absl::StrFormat("entry %d does not decode: %s", start + i, e.status().message()));
        return kExitFailed;
      }
      if (!host.empty() && !mentions(*e, host)) continue;
      rows.push_back(TimelineRow{start + i, std::move(*e), ""});
    }
    if (!host.empty() && last > 0 && rows.size() > last) {
      rows.erase(rows.begin(), rows.end() - static_cast<std::ptrdiff_t>(last));
    }
    for (auto& row : rows) row.summary = summarize(row.entry);
    if (g.json) {
      Json shown = Json::array();
      for (const auto& [index, e, summary] : rows) {
        shown.push_back(Json{{"index", index},
                             {"type", e.type},
                             {"logged_unix_ms", e.logged_unix_ms},
                             {"actor", e.actor},
                             {"host_id", e.host_id},
                             {"ref", e.ref},
                             {"summary", summary},
                             {"signed", !e.signature.empty()}});
      }
      const Json out = {{"tree_size", size}, {"entries", std::move(shown)}};
      std::printf("%s\n", jsonRows(out, "entries").c_str());
      return kExitOk;
    }
    printTimeline(rows, size);
    return kExitOk;
  });
}

int auditCheckpoint(const Globals& g) {
  auto show = [&](Client&, const v1::GetCheckpointResponse& resp) {
    if (g.json) {
      auto cp = note::parseSignedCheckpoint(resp.checkpoint());
      if (!cp.ok()) {
        printError(std::string(cp.status().message()));
        return kExitFailed;
      }
      const Json out = {{"origin", cp->origin},
                        {"tree_size", cp->size},
                        {"root_hash", crypto::base64(cp->root_hash)},
                        {"vkey", resp.vkey()},
                        {"checkpoint", resp.checkpoint()}};
      std::printf("%s\n", jsonLine(out).c_str());
      return kExitOk;
    }
    // The signed note alone, byte for byte, so it can be saved and handed to 'audit verify
    // --checkpoint' (which checks its signature before it believes a word of it).
    std::fputs(resp.checkpoint().c_str(), stdout);
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::GetCheckpoint, v1::GetCheckpointRequest(),
                    absl::Seconds(15), show);
}

int auditProve(const Globals& g, std::uint64_t index) {
  v1::ProveEntryRequest req;
  req.set_index(index);
  auto show = [&](Client&, const v1::ProveEntryResponse& resp) {
    // Check the proof leads to the checkpoint's root before handing it on.
    auto cp = note::parseSignedCheckpoint(resp.checkpoint());
    const std::string leaf = merkle::leafHash(resp.entry());
    std::vector<std::string> proof(resp.proof().begin(), resp.proof().end());
    if (!cp.ok() || cp->size != resp.tree_size() ||
        !merkle::verifyInclusion(index, cp->size, leaf, proof, cp->root_hash).ok()) {
      printError("the controller's inclusion proof does not lead to its checkpoint's root");
      return kExitFailed;
    }
    if (g.json) {
      Json hashes = Json::array();
      for (const auto& h : proof) hashes.push_back(crypto::base64(h));
      const Json out = {{"index", index},
                        {"tree_size", resp.tree_size()},
                        {"entry", crypto::base64(resp.entry())},
                        {"leaf_hash", crypto::base64(leaf)},
                        {"proof", std::move(hashes)},
                        {"checkpoint", resp.checkpoint()}};
      std::printf("%s\n", dumpJson(out, 1).c_str());
      return kExitOk;
    }
    auto e = decodeLogEntry(resp.entry());
    const std::string summary = e.ok() ? summarize(*e) : "";
    printProof(index, resp.tree_size(), e.ok() ? &summary : nullptr, crypto::hex(leaf),
               proof.size(), resp.checkpoint());
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::ProveEntry, req, absl::Seconds(15), show);
}

int auditExport(const Globals& g, const std::string& out_path) {
  if (pathExists(out_path)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", out_path));
    return kExitBadInput;
  }
  v1::GetCheckpointRequest req;
  req.set_all(true);
  auto exportLog = [&](Client& c, const v1::GetCheckpointResponse& cps) {
    // The newest checkpoint covered every entry when it was fetched; export exactly those.
    auto size = checkpointSize(cps.checkpoint());
    if (!size.ok()) {
      printError(absl::StrFormat("the controller's checkpoint: %s", size.status().message()));
      return kExitFailed;
    }
    std::vector<std::string> checkpoints;
    for (const auto& cp : cps.checkpoints()) {
      if (auto n = checkpointSize(cp); n.ok() && *n <= *size) checkpoints.push_back(cp);
    }
    checkpoints.push_back(cps.checkpoint());
    // Entries are fetched a page at a time as the writer asks for them, in order.
    std::vector<std::string> page;
    std::uint64_t page_start = 0;
    auto source = [&](std::uint64_t index) -> absl::StatusOr<std::string> {
      if (index < page_start || index >= page_start + page.size()) {
        auto fetched = readLog(c, index, std::min<std::uint64_t>(*size, index + 100000));
        if (!fetched.ok()) return fetched.status();
        page = std::move(*fetched);
        page_start = index;
        if (page.empty()) return absl::DataLossError("the controller returned no entries");
      }
      return page[index - page_start];
    };
    auto written =
        writeAuditExport(out_path, cps.origin(), cps.vkey(), *size, source, std::move(checkpoints));
    if (!written.ok()) {
      printError(absl::StrFormat("export failed: %s", written.message()));
      return kExitFailed;
    }
    if (g.json) {
      const Json out = {
          {"file", out_path}, {"entries", *size}, {"origin", cps.origin()}, {"vkey", cps.vkey()}};
      std::printf("%s\n", jsonLine(out).c_str());
      return kExitOk;
    }
    printExported(*size, cps.origin(), out_path);
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::GetCheckpoint, req, absl::Seconds(30), exportLog);
}

}  // namespace warden::cli
