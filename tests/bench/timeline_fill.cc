// scripts/bench-timeline's log: fills a controller's data directory (made by `warden-controller
// init`, not serving) with an incident and N log entries of actions under it, as a long
// incident leaves them: requests, dispatches and receipts of isolations, releases, account
// locks and session kills (every tenth a kill receipt with 20 processes, a command line each),
// plus one action in ten on another host outside the incident. Entries are not signed: the
// timeline reads the log, the verifier is not run on it.
// Usage: bench_timeline_fill DATA_DIR ENTRIES   (prints the incident's codename)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/audit/incident.h"
#include "common/audit/log_entry.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "controller/data_dir.h"
#include "controller/log_writer.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

constexpr char kIncident[] = "i-00000000000be4c4";
constexpr char kCodename[] = "bench-timeline";

int fail(const absl::Status& s) {
  std::fprintf(stderr, "bench_timeline_fill: %s\n", s.ToString().c_str());
  return 1;
}

std::string killResult() {
  v1::KillReport report;
  for (int i = 0; i < 20; ++i) {
    auto* p = report.add_processes();
    p->set_pid(4000 + i);
    p->set_exe("/tmp/.cache/kworker-miner");
    p->set_exe_sha256(std::string(64, 'c'));
    p->set_cmdline(absl::StrFormat("/tmp/.cache/kworker-miner --pool 203.0.113.9:3333 -t %d", i));
    p->set_user("mallory");
    p->set_start_unix_ms(nowUnixMs() - 3'600'000 + i);
  }
  return crypto::base64(report.SerializeAsString());
}

int run(const std::string& dir, std::uint64_t target) {
  auto keys = loadDataDir(dir);
  if (!keys.ok()) return fail(keys.status());
  auto writer = LogWriter::open(*keys, 1 << 20);
  if (!writer.ok()) return fail(writer.status());
  LogWriter& w = **writer;
  IncidentRecord incident;
  incident.id = kIncident;
  incident.codename = kCodename;
  incident.severity = 1;
  incident.summary = "ransomware on the web tier";
  incident.opened_by = "admin";
  incident.opened_ms = nowUnixMs();
  Request open;
  open.id = "r-00000000000be4c4";
  open.operator_name = "admin";
  open.kind = kIncidentOpenKind;
  open.args = incidentChangeArgs(
      IncidentChange{kIncidentOpenKind, kIncident, kCodename, 1, incident.summary, ""});
  std::vector<LogEntry> batch;
  auto entry = [](const std::string& type, const std::string& actor, const std::string& host,
                  const std::string& ref, std::string body) {
    LogEntry e;
    e.type = type;
    e.actor = actor;
    e.host_id = host;
    e.ref = ref;
    e.body = std::move(body);
    e.signature = std::string(64, 's');
    return e;
  };
  batch.push_back(entry(entry_type::kRequest, "operator:admin", "", open.id, encodeRequest(open)));
  const std::string kill = killResult();
  const char* kinds[] = {"isolate", "lock-accounts", "kill-sessions", "release"};
  std::uint64_t n = w.log().size() + 1;
  for (std::uint64_t i = 0; n < target; ++i) {
    const bool outside = i % 10 == 9;
    const std::string host = outside ? "host-outside" : absl::StrFormat("web-%03d", i % 500);
    const std::string kind = kinds[i % 4];
    Request q;
    q.id = absl::StrFormat("r-%016x", i + 1);
    q.operator_name = "admin";
    q.kind = kind;
    q.hosts = {host};
    if (!outside) q.incident = kIncident;
    q.reason = "contain the web tier";
    if (kind == "lock-accounts") q.args = {"user=mallory"};
    if (kind == "kill-sessions") q.args = {"user=mallory"};
    Command c;
    c.id = absl::StrFormat("a-%016x", i + 1);
    c.host_id = host;
    c.kind = kind;
    c.requested_by = "admin";
    c.incident = q.incident;
    c.args = q.args;
    Receipt r;
    r.command_id = c.id;
    r.host_id = host;
    r.kind = kind;
    r.status = ReceiptStatus::kSucceeded;
    r.message = "done";
    if (kind == "kill-sessions" && i % 10 == 2) r.details["result"] = kill;
    batch.push_back(entry(entry_type::kRequest, "operator:admin", "", q.id, encodeRequest(q)));
    batch.push_back(entry(entry_type::kDispatch, "controller", host, q.id, encodeCommand(c)));
    batch.push_back(entry(entry_type::kReceipt, "agent:" + host, host, c.id, encodeReceipt(r)));
    n += 3;
    if (batch.size() >= 3000 || n >= target) {
      auto ticket = w.enqueueEntries(std::move(batch), w.log().failures());
      batch.clear();
      if (!ticket.ok()) return fail(ticket.status());
      if (auto s = w.log().wait(*ticket); !s.ok()) return fail(s.status());
    }
  }
  if (!batch.empty()) {
    auto ticket = w.enqueueEntries(std::move(batch), w.log().failures());
    if (!ticket.ok()) return fail(ticket.status());
    if (auto s = w.log().wait(*ticket); !s.ok()) return fail(s.status());
  }
  incident.open_log_index = 0;
  if (auto s = keys->registry->addIncident(incident); !s.ok()) return fail(s);
  std::printf("%s\n", kCodename);
  std::fprintf(stderr, "bench_timeline_fill: %llu entries\n",
               static_cast<unsigned long long>(w.log().size()));
  return 0;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_timeline_fill DATA_DIR ENTRIES\n");
    return 2;
  }
  return warden::run(argv[1], std::strtoull(argv[2], nullptr, 10));
}
