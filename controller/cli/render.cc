#include "controller/cli/render.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace warden::cli {

// ---- text -----------------------------------------------------------------------------------

// Error text quotes what the controller or a host said: escaped like any other host text.
void printError(const std::string& what) {
  std::fprintf(stderr, "warden: %s\n", printable(what).c_str());
}

std::string printable(std::string_view v) {
  std::string out;
  while (!v.empty()) {
    const TextUnit u = nextTextUnit(v);
    if (u.safe) {
      out.append(v.substr(0, u.size));
      v.remove_prefix(u.size);
    } else {
      out += '?';
      v.remove_prefix(1);
    }
  }
  return out;
}

std::string printableLines(std::string_view v, std::string_view separator) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(absl::string_view(v.data(), v.size()), '\n')) {
    lines.push_back(printable(std::string_view(line.data(), line.size())));
  }
  return absl::StrJoin(lines, absl::string_view(separator.data(), separator.size()));
}

std::string formatTime(std::int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string formatAgo(std::int64_t unix_ms) {
  if (unix_ms == 0) return "never";
  const auto d = absl::Now() - absl::FromUnixMillis(unix_ms);
  if (d < absl::Seconds(2)) return "now";
  if (d < absl::Minutes(2)) return absl::StrFormat("%ds ago", absl::ToInt64Seconds(d));
  if (d < absl::Hours(2)) return absl::StrFormat("%dm ago", absl::ToInt64Minutes(d));
  return absl::StrFormat("%dh ago", absl::ToInt64Hours(d));
}

std::string formatBytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%d B", n) : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string formatEta(double seconds) {
  if (!(seconds >= 0) || seconds > 100 * 3600) return "--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  return s >= 3600 ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                   : absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string shortHash(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) : h; }

// ---- JSON -----------------------------------------------------------------------------------

std::string toJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

void printMessageJson(const google::protobuf::Message& m) {
  std::printf("%s\n", toJson(m).c_str());
}

Json messageJson(const google::protobuf::Message& m) {
  // protobuf prints valid JSON for any message that parsed; null only if it printed nothing.
  auto j = parseJson(toJson(m), "protobuf JSON");
  return j.ok() ? std::move(*j) : Json();
}

void JsonListWriter::add(const google::protobuf::Message& item) {
  // protobuf's printer indents a level by one space; a list's items sit two levels down. Its
  // strings hold no raw line breaks (they are escaped), so every line break is a line's start.
  std::string text = toJson(item);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::string indented = "  ";
  indented.reserve(text.size() + text.size() / 16);
  for (char ch : text) {
    indented += ch;
    if (ch == '\n') indented += "  ";
  }
  if (items_ == 0) {
    std::fprintf(out_, "{\n \"%s\": [\n", key_.c_str());
  } else {
    std::fputs(",\n", out_);
  }
  std::fwrite(indented.data(), 1, indented.size(), out_);
  ++items_;
}

void JsonListWriter::trailer(const google::protobuf::Message& top) {
  // protobuf's document "{\n FIELD,\n FIELD\n}\n", a field starting on a line of its own at
  // one space (its value may run over more lines). All but the list itself and the page token,
  // which protobuf prints even when empty.
  std::vector<std::string> fields;
  for (absl::string_view line : absl::StrSplit(toJson(top), '\n')) {
    if (absl::StartsWith(line, " \"")) {
      fields.emplace_back(line);
    } else if (!fields.empty() && absl::StartsWith(line, " ")) {  // " ]", "  {", ...
      absl::StrAppend(&fields.back(), "\n", line);
    }
  }
  trailer_.clear();
  for (std::string& f : fields) {
    if (absl::StartsWith(f, absl::StrCat(" \"", key_, "\":")) ||
        absl::StartsWith(f, " \"next_page_token\":")) {
      continue;
    }
    if (!f.empty() && f.back() == ',') f.pop_back();
    absl::StrAppend(&trailer_, ",\n", f);
  }
}

void JsonListWriter::finish() {
  // protobuf ends a document with a line break, and printMessageJson() adds one.
  if (items_ == 0) {
    std::fprintf(out_, "{\n \"%s\": []%s\n}\n\n", key_.c_str(), trailer_.c_str());
  } else {
    std::fprintf(out_, "\n ]%s\n}\n\n", trailer_.c_str());
  }
  std::fflush(out_);
}

std::string jsonLine(const Json& j) { return dumpJson(j, JsonLayout::spacedLine()); }

std::string jsonRows(const Json& j, std::string_view rows_key) {
  return dumpJson(
      j, JsonLayout{.spaced = true, .rows_key = std::string(rows_key), .row_indent = "  "});
}

// ---- hosts and containment ------------------------------------------------------------------

void printHostsHeader() {
  std::printf("%-20s %-13s %-11s %-10s %-9s %-12s %s\n", "HOST", "STATUS", "CONTAINMENT", "SEEN",
              "FIREWALL", "HEALTH", "ADDRESSES");
}

void printHostRow(const v1::Host& h) {
  std::string containment = printable(h.containment());
  if (h.facts().blocked_count() > 0) {
    containment += absl::StrFormat("+%dblk", h.facts().blocked_count());
  }
  const std::string& backend = h.facts().firewall_backend();
  std::printf("%-20s %-13s %-11s %-10s %-9s %-12s %s\n", printable(h.host_id()).c_str(),
              h.connected() ? "connected" : "disconnected", containment.c_str(),
              formatAgo(h.last_seen_unix_ms()).c_str(),
              backend.empty() ? "-" : printable(backend).c_str(),
              h.health().empty() ? "-" : printable(h.health()).c_str(),
              printable(absl::StrJoin(h.facts().addresses(), " ")).c_str());
}

void printNoHosts() {
  std::printf("No hosts enrolled. Create a join token with 'warden token create'.\n");
}

void printHostCertificateNotes(const std::vector<std::pair<std::string, std::string>>& notes) {
  // Certificates expiring within 30 days (or expired): a note per host under the table.
  if (!notes.empty()) std::printf("\nCertificates:\n");
  for (const auto& [host, note] : notes) {
    std::printf("  %-20s %s\n", printable(host).c_str(), printable(note).c_str());
  }
}

void printCertificateWarnings(const v1::ListHostsResponse& resp) {
  for (const auto& w : resp.warnings()) printError("warning: " + w.message());
}

namespace {

// What an isolate, release, block or unblock receipt says about how it went.
std::string describeAction(const v1::Action& a) {
  const auto& d = a.details();
  auto get = [&](const char* k) -> std::string {
    auto it = d.find(k);
    return it == d.end() ? "" : it->second;
  };
  std::string extra;
  if (!get("backend").empty()) extra += get("backend");
  if (!get("flows_cut").empty()) extra += ", " + get("flows_cut") + " flows cut";
  if (!get("duration_us").empty()) {
    extra += absl::StrFormat(", %.1f ms on host", std::atof(get("duration_us").c_str()) / 1000.0);
  }
  return extra;
}

}  // namespace

void printSubmitted(const std::string& kind, const v1::SubmitResponse& resp) {
  if (resp.actions().empty()) std::printf("no hosts enrolled: nothing dispatched\n");
  for (const auto& a : resp.actions()) {
    const std::string host = printable(a.host_id());
    const std::string id = printable(a.id());
    if (a.state() == "succeeded") {
      // isolate/release say it in a word; block/unblock say what changed.
      const std::string what = kind == "isolate"   ? "isolated"
                               : kind == "release" ? "released"
                                                   : printable(a.message());
      std::printf("%s: %s (%s; action %s)\n", host.c_str(), what.c_str(),
                  printable(describeAction(a)).c_str(), id.c_str());
    } else if (a.state() == "queued" || a.state() == "delivered") {
      std::printf("%s: %s, no receipt yet — %s; action %s expires %s UTC ('warden action %s')\n",
                  host.c_str(), a.state().c_str(),
                  a.state() == "queued" ? "host not connected, delivered when it connects"
                                        : "the host has not answered",
                  id.c_str(), formatTime(a.expires_unix_ms()).c_str(), id.c_str());
    } else {
      std::printf("%s: %s %s: %s (action %s)\n", host.c_str(), kind.c_str(),
                  printable(a.state()).c_str(), printable(a.message()).c_str(), id.c_str());
    }
  }
}

void printBlocks(const v1::ListBlocksResponse& resp) {
  if (resp.blocks().empty()) {
    std::printf("No fleet-wide blocks.\n");
    return;
  }
  std::printf("%-40s %-19s %-10s %s\n", "ADDRESS", "SINCE (UTC)", "BY", "REASON");
  for (const auto& b : resp.blocks()) {
    std::printf("%-40s %-19s %-10s %s\n", printable(b.address()).c_str(),
                formatTime(b.created_unix_ms()).c_str(), printable(b.created_by()).c_str(),
                printable(b.reason()).c_str());
  }
}

// ---- actions --------------------------------------------------------------------------------

void printActionsHeader() {
  std::printf("%-20s %-19s %-14s %-8s %-10s %-9s %s\n", "ACTION", "CREATED (UTC)", "HOST", "KIND",
              "STATE", "BY", "RESULT");
}

void printActionRow(const v1::Action& a) {
  std::printf("%-20s %-19s %-14s %-8s %-10s %-9s %s\n", printable(a.id()).c_str(),
              formatTime(a.created_unix_ms()).c_str(), printable(a.host_id()).c_str(),
              printable(a.kind()).c_str(), printable(a.state()).c_str(),
              printable(a.requested_by()).c_str(), printable(a.message()).c_str());
}

void printAction(const v1::Action& a) {
  std::printf(
      "action     %s\nhost       %s\nkind       %s %s\nstate      %s\nrequested  %s UTC by "
      "%s%s\n",
      printable(a.id()).c_str(), printable(a.host_id()).c_str(), printable(a.kind()).c_str(),
      printable(a.params()).c_str(), printable(a.state()).c_str(),
      formatTime(a.created_unix_ms()).c_str(), printable(a.requested_by()).c_str(),
      a.reason().empty() ? "" : (" — " + printable(a.reason())).c_str());
  std::printf("expires    %s UTC\nfinished   %s UTC\nresult     %s\nreceipt    %s\n",
              formatTime(a.expires_unix_ms()).c_str(), formatTime(a.finished_unix_ms()).c_str(),
              printable(a.message()).c_str(),
              a.receipt_verified() ? "signed by the agent, verified" : "none");
  if (a.log_index() >= 0) {
    std::printf("logged     dispatch is action log entry %lld ('warden audit prove %lld')\n",
                static_cast<long long>(a.log_index()), static_cast<long long>(a.log_index()));
  }
  std::vector<std::string> keys;
  for (const auto& [k, v] : a.details()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) {
    const std::string& v = a.details().at(k);
    if (v.find('\n') != std::string::npos) {
      std::printf("  %s:\n    %s\n", printable(k).c_str(), printableLines(v, "\n    ").c_str());
    } else {
      std::printf("  %-22s %s\n", printable(k).c_str(), printable(v).c_str());
    }
  }
}

// ---- host actions ---------------------------------------------------------------------------

void printHostActionOutcome(const std::string& kind, const std::string& host, const v1::Action& a) {
  const std::string id = printable(a.id());
  if (a.state() == "queued" || a.state() == "delivered") {
    std::printf("%s: %s %s, no receipt yet (action %s; 'warden action %s')\n", host.c_str(),
                kind.c_str(), a.state().c_str(), id.c_str(), id.c_str());
  } else if (a.state() != "succeeded") {
    std::fprintf(stderr, "warden: %s on %s %s: %s (action %s)\n", kind.c_str(), host.c_str(),
                 printable(a.state()).c_str(), printable(a.message()).c_str(), id.c_str());
  } else {
    std::printf("%s: %s (action %s)\n", host.c_str(), printable(a.message()).c_str(), id.c_str());
  }
}

namespace {

// A list the agent cut to keep its receipt bounded (common/receipt_bounds.h): how much is missing.
void printUnlisted(std::uint64_t n, const char* what) {
  if (n == 0) return;
  std::printf("... and %llu more %s (not listed: the receipt is bounded)\n",
              static_cast<unsigned long long>(n), what);
}

}  // namespace

void printSessions(const v1::SessionList& list) {
  if (list.sessions().empty()) {
    std::printf("No login sessions.\n");
    return;
  }
  std::printf("%-14s %-12s %-8s %-24s %-19s %-8s %-6s %s\n", "SESSION", "USER", "TTY", "FROM",
              "LOGIN (UTC)", "LEADER", "PROCS", "ROOT");
  for (const auto& s : list.sessions()) {
    std::printf("%-14s %-12s %-8s %-24s %-19s %-8d %-6u %s\n", printable(s.id()).c_str(),
                printable(s.user()).c_str(), s.tty().empty() ? "-" : printable(s.tty()).c_str(),
                s.remote().empty() ? "-" : printable(s.remote()).c_str(),
                formatTime(s.login_unix_ms()).c_str(), s.leader_pid(), s.process_count(),
                s.any_root() ? "yes" : "no");
  }
  printUnlisted(list.unlisted_sessions(), "sessions");
}

void printKillReport(const v1::KillReport& r) {
  const std::uint64_t total =
      static_cast<std::uint64_t>(r.processes_size()) + r.unlisted_processes();
  std::printf("%s %llu process%s (%u round%s, %.1f ms, %s)\n",
              r.dry_run() ? "Would kill" : "Killed", static_cast<unsigned long long>(total),
              total == 1 ? "" : "es", r.rounds(), r.rounds() == 1 ? "" : "s",
              r.elapsed_us() / 1000.0,
              r.dry_run() ? "nothing changed" : printable(r.freeze_method()).c_str());
  if (!r.processes().empty()) {
    std::printf("%-8s %-8s %-12s %-5s %-10s %-17s %s\n", "PID", "PPID", "USER", "EUID", "SESSION",
                "EXE SHA-256", "COMMAND");
    for (const auto& p : r.processes()) {
      std::printf("%-8d %-8d %-12s %-5u %-10lld %-17s %s\n", p.pid(), p.ppid(),
                  printable(p.user()).c_str(), p.euid(), static_cast<long long>(p.audit_session()),
                  printable(shortHash(p.exe_sha256())).c_str(),
                  printable(p.cmdline().empty() ? p.exe() : p.cmdline()).c_str());
    }
  }
  printUnlisted(r.unlisted_processes(), "processes");
  for (const auto& p : r.survivors()) {
    std::printf("SURVIVED: pid %d (%s)\n", p.pid(), printable(p.cmdline()).c_str());
  }
  printUnlisted(r.unlisted_survivors(), "survivors");
}

void printAccountReport(const v1::AccountReport& r) {
  for (const auto& c : r.changes()) {
    std::printf("  %-16s %-10s shadow line %s -> %s\n", printable(c.user()).c_str(),
                printable(c.action()).c_str(), printable(shortHash(c.old_line_sha256())).c_str(),
                printable(shortHash(c.new_line_sha256())).c_str());
  }
  printUnlisted(r.unlisted_changes(), "accounts");
}

void printSshKeyReport(const v1::SshKeyReport& r) {
  for (const auto& k : r.keys()) {
    std::printf("  %-12s %-12s %s %s%s%s\n", printable(k.action()).c_str(),
                printable(k.user()).c_str(), printable(k.fingerprint()).c_str(),
                printable(k.type()).c_str(), k.comment().empty() ? "" : " ",
                printable(k.comment()).c_str());
    std::printf("  %-12s %-12s %s%s%s\n", "", "", printable(k.file()).c_str(),
                k.line() > 0 ? absl::StrFormat(":%d", k.line()).c_str() : "",
                k.options().empty() ? "" : ("  options " + printable(k.options())).c_str());
  }
  printUnlisted(r.unlisted_keys(), "keys");
  for (const auto& f : r.files()) {
    std::printf(
        "  file %s (%s): %s%s, sha256 %s -> %s\n", printable(f.path()).c_str(),
        printable(f.user()).c_str(), printable(f.action()).c_str(),
        f.mtime_unix_ms() > 0 ? (", last modified " + formatTime(f.mtime_unix_ms())).c_str() : "",
        printable(shortHash(f.sha256_before())).c_str(),
        f.sha256_after().empty() ? "-" : printable(shortHash(f.sha256_after())).c_str());
  }
  printUnlisted(r.unlisted_files(), "files");
  for (const auto& fp : r.krl_fingerprints()) {
    std::printf("  %s %s %s\n", printable(fp).c_str(),
                r.restore() ? "taken out of" : "refused for every account in",
                printable(r.revoked_keys_file()).c_str());
  }
  if (r.krl_fingerprints_size() > 0 && !r.revoked_keys_enforced() && !r.restore()) {
    std::printf("  sshd_config does NOT name %s as RevokedKeys: sshd does not read it yet\n",
                printable(r.revoked_keys_file()).c_str());
  }
  for (const auto& w : r.warnings()) std::printf("  warning: %s\n", printable(w).c_str());
}

void printRootPassword(const std::string& password) {
  if (password.empty()) {
    std::printf("New root password: could not be opened (sealed to another key?)\n");
  } else {
    std::printf("New root password (shown once, stored nowhere): %s\n",
                printable(password).c_str());
  }
}

// ---- evidence -------------------------------------------------------------------------------

void printEvidenceDetails(const v1::Action& a) {
  auto ids = a.details().find("evidence_ids");
  if (ids == a.details().end()) return;
  for (absl::string_view id : absl::StrSplit(ids->second, ',', absl::SkipEmpty())) {
    std::printf("  evidence %s\n", printable(std::string(id)).c_str());
    for (const char* k : {"device", "device_kind", "size_bytes", "sha256", "controller_sha256",
                          "manifest_sha256", "immutable", "read_method", "read_errors",
                          "resumed_from", "members", "limits_hit", "error"}) {
      auto it = a.details().find(absl::StrCat(id, ".", k));
      if (it != a.details().end()) std::printf("    %-18s %s\n", k, printable(it->second).c_str());
    }
  }
}

void printEvidenceListHeader() {
  std::printf("%-24s %-10s %-12s %-7s %-28s %-18s %-16s %s\n", "EVIDENCE", "STATE", "HOST", "KIND",
              "SOURCE", "SIZE", "SHA256", "STORED (UTC)");
}

void printEvidenceRow(const v1::EvidenceItem& e) {
  const std::string size =
      e.state() == "receiving" && e.total() > 0
          ? absl::StrFormat("%s/%s", formatBytes(e.size()), formatBytes(e.total()))
          : formatBytes(e.size());
  // Long paths keep their end, where the file name is.
  std::string source = printable(e.source());
  if (source.size() > 28) source = "..." + source.substr(source.size() - 25);
  const std::string sha256 = printable(e.sha256().substr(0, 12));
  std::printf("%-24s %-10s %-12s %-7s %-28s %-18s %-16s %s\n", printable(e.id()).c_str(),
              printable(e.state()).c_str(), printable(e.host_id()).c_str(),
              printable(e.kind()).c_str(), source.c_str(), size.c_str(),
              e.sha256().empty() ? "-" : (sha256 + "...").c_str(),
              formatTime(e.finished_unix_ms()).c_str());
}

void printEvidence(const v1::ShowEvidenceResponse& resp) {
  const v1::EvidenceItem& e = resp.item();
  std::printf("evidence      %s (%s)\n", printable(e.id()).c_str(), printable(e.state()).c_str());
  std::printf("action        %s (%s, requested by %s)\n", printable(e.action_id()).c_str(),
              printable(e.kind()).c_str(), printable(e.operator_()).c_str());
  std::printf("host          %s\nsource        %s\n", printable(e.host_id()).c_str(),
              printable(e.source()).c_str());
  std::printf("size          %llu bytes (%s)\n", static_cast<unsigned long long>(e.size()),
              formatBytes(e.size()).c_str());
  if (e.state() != "complete") return;
  std::printf("sha256        %s (agent and controller agree)\n", printable(e.sha256()).c_str());
  std::printf("stored as     %s, %llu bytes, compression %s, sha256 %s\n",
              printable(e.stored_name()).c_str(), static_cast<unsigned long long>(e.stored_size()),
              printable(e.compression()).c_str(), printable(e.stored_sha256()).c_str());
  std::printf("read-only     mode 0444%s\n",
              e.immutable() ? ", immutable attribute set" : " (no immutable attribute)");
  std::printf("received      %s .. %s UTC, %d stream(s), %llu bytes over the wire\n",
              formatTime(e.started_unix_ms()).c_str(), formatTime(e.finished_unix_ms()).c_str(),
              e.streams(), static_cast<unsigned long long>(e.wire_bytes()));
  std::printf("manifest      sha256 %s, signed by the agent:\n%s\n",
              printable(e.manifest_sha256()).c_str(), printable(resp.manifest()).c_str());
}

void printEvidenceChecks(const v1::VerifyEvidenceResponse& resp) {
  for (const auto& check : resp.checks()) {
    std::printf("%-6s %-12s %s\n", check.ok() ? "ok" : "FAILED", printable(check.name()).c_str(),
                printable(check.detail()).c_str());
  }
}

// ---- audit ----------------------------------------------------------------------------------

void printTimeline(const std::vector<TimelineRow>& rows, std::uint64_t tree_size) {
  std::printf("%-6s %-23s %-10s %-18s %-12s %s\n", "INDEX", "TIME (UTC)", "TYPE", "WHO", "HOST",
              "WHAT");
  for (const auto& [index, e, summary] : rows) {
    const std::string when = absl::FormatTime(
        "%Y-%m-%d %H:%M:%E3S", absl::FromUnixMillis(e.logged_unix_ms), absl::UTCTimeZone());
    std::printf("%-6llu %-23s %-10s %-18s %-12s %s\n", static_cast<unsigned long long>(index),
                when.c_str(), printable(e.type).c_str(), printable(e.actor).c_str(),
                e.host_id.empty() ? "-" : printable(e.host_id).c_str(), printable(summary).c_str());
  }
  std::printf("%zu of %llu entries shown; 'warden audit export --out FILE' to verify them\n",
              rows.size(), static_cast<unsigned long long>(tree_size));
}

void printProof(std::uint64_t index, std::uint64_t tree_size, const std::string* summary,
                const std::string& leaf_hash, std::size_t proof_hashes,
                const std::string& checkpoint) {
  std::printf("entry %llu of %llu: %s\nleaf hash %s\nproof: %zu hashes, verified against:\n%s",
              static_cast<unsigned long long>(index), static_cast<unsigned long long>(tree_size),
              summary != nullptr ? printable(*summary).c_str() : "undecodable", leaf_hash.c_str(),
              proof_hashes, printableLines(checkpoint, "\n").c_str());
}

void printExported(std::uint64_t entries, const std::string& origin, const std::string& file) {
  std::printf(
      "exported %llu entries of log %s to %s\ncheck it offline with: warden audit verify "
      "%s --vkey log.vkey\n",
      static_cast<unsigned long long>(entries), printable(origin).c_str(), file.c_str(),
      file.c_str());
}

void printAuditFailed(const std::string& why) {
  std::fprintf(stderr, "warden: audit verify FAILED: %s\n", printable(why).c_str());
}

void printAuditVerified(const AuditReport& r, const std::vector<EvidenceVerdict>& verdicts) {
  std::string types;
  for (const auto& [t, n] : r.entries_by_type) {
    types += absl::StrFormat("%s%d %s", types.empty() ? "" : ", ", n, printable(t));
  }
  std::printf("verified: %llu entries (%s), %llu checkpoints, %llu signatures; root %s\n",
              static_cast<unsigned long long>(r.tree_size), types.c_str(),
              static_cast<unsigned long long>(r.checkpoints),
              static_cast<unsigned long long>(r.signatures_verified), r.root_hex.c_str());
  if (r.previous_checkpoints_checked > 0) {
    std::printf("extends the %llu checkpoint(s) you saved: no rollback, truncation or fork\n",
                static_cast<unsigned long long>(r.previous_checkpoints_checked));
  }
  if (!r.vkey_pinned) {
    std::printf(
        "warning: checked against the log key written in the file itself; pass --vkey "
        "with the controller's log.vkey to pin it\n");
  }
  // Manifest text is read before its signature is checked.
  for (const auto& v : verdicts) {
    std::printf("evidence %s: %s\n", printable(v.evidence_id).c_str(),
                v.ok ? "verified" : "FAILED");
    for (const auto& c : v.checks) {
      std::printf("  %-9s %s  %s\n", printable(c.name).c_str(), c.ok ? "ok  " : "FAIL",
                  printable(c.detail).c_str());
    }
  }
}

}  // namespace warden::cli
