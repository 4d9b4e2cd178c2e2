// Firewall on iptables / ip6tables, for hosts without nftables. Warden's rules live in
// WARDEN-INPUT, WARDEN-OUTPUT and WARDEN-FORWARD of table filter, jumped to first from the
// built-in chains; each family is replaced by one `iptables-restore --noflush` commit (IPv4
// first, then IPv6: two transactions, so a failure in between is reported and left to the
// caller's rollback). Table filter runs after conntrack, so unlike the nftables backend,
// dropped packets still create conntrack entries; ConnectionTracker::flushExcept() clears them.
//
// The tools are run as child processes through a small posix_spawn(3) wrapper (argv only, no
// shell, fixed environment, bounded output and time). Boost.Process v1 would throw across
// this layer and adds nothing here.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/firewall_rules.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/child_process.h"
#include "agent/os/linux/firewall_linux.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"

namespace warden::linux_os {
namespace {

constexpr absl::Duration kToolTimeout = absl::Seconds(30);
constexpr const char* kBuiltinChains[] = {"INPUT", "OUTPUT", "FORWARD"};

std::string sha256Hex(const std::string& data) { return crypto::hex(crypto::sha256(data)); }

// Runs a tool and requires exit status 0; the error carries the tool's stderr.
absl::StatusOr<std::string> runChecked(const std::string& tool, std::vector<std::string> args,
                                       const std::string& input = "") {
  auto path = findTool(tool);
  if (!path.ok()) return absl::UnavailableError(path.status().message());
  args.insert(args.begin(), *path);
  auto r = runTool(args, input, kToolTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return absl::InternalError(absl::StrFormat("%s exited with status %d: %s", tool, r->exit_code,
                                               err.empty() ? "(no message)" : err));
  }
  return std::move(r->out);
}

struct Family {
  int af;
  const char* save;
  const char* restore;
};
constexpr Family kFamilies[] = {{AF_INET, "iptables-save", "iptables-restore"},
                                {AF_INET6, "ip6tables-save", "ip6tables-restore"}};

// `*-save -t filter`. iptables-legacy refuses to list a filter table that was never loaded
// ("Table does not exist"): that is an empty table, not a failure.
absl::StatusOr<std::string> saveFilter(const Family& fam) {
  auto save = runChecked(fam.save, {"-t", "filter"});
  if (!save.ok() && absl::StrContains(save.status().message(), "does not exist")) {
    return std::string();
  }
  return save;
}

// What `iptables-save -t filter` says about Warden's objects.
struct FilterView {
  std::map<std::string, bool> chain_present;                     // WARDEN-* declared
  std::map<std::string, std::vector<std::string>> warden_rules;  // "-A WARDEN-X ..." by chain
  std::map<std::string, int> jump_count;                         // exact jump lines per builtin
  std::map<std::string, bool> jump_first;                        // jump is the chain's rule 1
  int other_references = 0;  // rules outside WARDEN-* that mention WARDEN- otherwise

  bool allChains() const {
    for (const char* c : kBuiltinChains) {
      if (!chain_present.at(c)) return false;
    }
    return true;
  }
  bool noChains() const {
    for (const char* c : kBuiltinChains) {
      if (chain_present.at(c)) return false;
    }
    return true;
  }
  bool jumpsInPlace() const {
    for (const char* c : kBuiltinChains) {
      if (jump_count.at(c) != 1 || !jump_first.at(c)) return false;
    }
    return true;
  }
  bool noJumps() const {
    for (const char* c : kBuiltinChains) {
      if (jump_count.at(c) != 0) return false;
    }
    return true;
  }
};

FilterView parseFilter(const std::string& save) {
  FilterView v;
  std::map<std::string, bool> seen_rule;
  for (const char* c : kBuiltinChains) {
    v.chain_present[c] = false;
    v.jump_count[c] = 0;
    v.jump_first[c] = false;
    v.warden_rules[c];
  }
  bool in_filter = false;
  for (absl::string_view sv : absl::StrSplit(save, '\n')) {
    const std::string line(sv);
    if (line == "*filter") {
      in_filter = true;
      continue;
    }
    if (!in_filter) continue;
    if (line == "COMMIT") break;
    for (const char* c : kBuiltinChains) {
      const std::string chain = absl::StrCat("WARDEN-", c);
      if (absl::StartsWith(line, absl::StrCat(":", chain, " "))) v.chain_present[c] = true;
      if (absl::StartsWith(line, absl::StrCat("-A ", chain, " ")))
        v.warden_rules[c].push_back(line);
      if (absl::StartsWith(line, absl::StrCat("-A ", c, " "))) {
        if (line == absl::StrCat("-A ", c, " -j ", chain)) {
          ++v.jump_count[c];
          if (!seen_rule[c]) v.jump_first[c] = true;
        } else if (absl::StrContains(line, "WARDEN-")) {
          ++v.other_references;
        }
        seen_rule[c] = true;
      }
    }
  }
  return v;
}

// Restore input for `state` given what is there. The common cases (nothing of ours, or
// everything of ours in place) are exactly buildIptablesRestore(). Otherwise — a jump
// deleted, duplicated or pushed down, a chain missing — the stray jumps are deleted and the
// chains rebuilt, still inside the same commit.
std::string restoreInput(const ContainmentState& state, int af, const FilterView& v) {
  const bool chains_normal = v.allChains() || v.noChains();
  const bool jumps_normal = v.jumpsInPlace() || v.noJumps();
  if (chains_normal && jumps_normal && (v.allChains() || v.noJumps())) {
    return buildIptablesRestore(state, af, v.allChains(), v.jumpsInPlace());
  }
  std::string repair;
  for (const char* c : kBuiltinChains) {
    for (int i = 0; i < v.jump_count.at(c); ++i) {
      absl::StrAppend(&repair, "-D ", c, " -j WARDEN-", c, "\n");
    }
  }
  if (state.empty()) {
    for (const char* c : kBuiltinChains) {
      if (v.chain_present.at(c)) absl::StrAppend(&repair, "-F WARDEN-", c, "\n");
    }
    for (const char* c : kBuiltinChains) {
      if (v.chain_present.at(c)) absl::StrAppend(&repair, "-X WARDEN-", c, "\n");
    }
  }
  // Non-empty: the chain declarations create or flush the chains, and the jumps are inserted
  // afresh at position 1.
  std::string body = buildIptablesRestore(state, af, false, false);
  // After "*filter" and the chain declarations, before the first rule command.
  std::size_t pos = body.find('\n') + 1;
  while (pos < body.size() && body[pos] == ':') pos = body.find('\n', pos) + 1;
  body.insert(pos, repair);
  return body;
}

// Restore input that puts one family's Warden objects back as `before` showed them, after a
// commit of ours left them complete (chains present, one jump first in each built-in chain):
// the other family failed, and the two are applied as one unit.
std::string rollbackInput(const FilterView& before) {
  std::string out = "*filter\n";
  if (before.noChains()) {
    for (const char* c : kBuiltinChains) absl::StrAppend(&out, "-D ", c, " -j WARDEN-", c, "\n");
    for (const char* c : kBuiltinChains) absl::StrAppend(&out, "-F WARDEN-", c, "\n");
    for (const char* c : kBuiltinChains) absl::StrAppend(&out, "-X WARDEN-", c, "\n");
    return out + "COMMIT\n";
  }
  for (const char* c : kBuiltinChains) absl::StrAppend(&out, ":WARDEN-", c, " - [0:0]\n");
  for (const char* c : kBuiltinChains) absl::StrAppend(&out, "-D ", c, " -j WARDEN-", c, "\n");
  for (const char* c : kBuiltinChains) {
    for (const auto& r : before.warden_rules.at(c)) absl::StrAppend(&out, r, "\n");
    for (int i = 0; i < before.jump_count.at(c); ++i) {
      absl::StrAppend(&out, "-I ", c, " 1 -j WARDEN-", c, "\n");
    }
  }
  return out + "COMMIT\n";
}

// Everything of Warden's in one family's save output, for the installed digest.
std::string wardenLines(const FilterView& v) {
  std::string out;
  for (const char* c : kBuiltinChains) {
    if (v.chain_present.at(c)) absl::StrAppend(&out, ":WARDEN-", c, "\n");
    for (int i = 0; i < v.jump_count.at(c); ++i)
      absl::StrAppend(&out, "-A ", c, " -j WARDEN-", c, "\n");
    for (const auto& r : v.warden_rules.at(c)) absl::StrAppend(&out, r, "\n");
  }
  return out;
}

absl::Status checkFamily(const ContainmentState& state, const Family& fam, const FilterView& v) {
  const std::string where = absl::StrCat(fam.save, " -t filter");
  if (state.empty()) {
    if (!v.noChains() || !v.noJumps() || v.other_references) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, " still shows WARDEN chains or jumps to them"));
    }
    return absl::OkStatus();
  }
  for (const char* c : kBuiltinChains) {
    if (!v.chain_present.at(c)) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, ": chain WARDEN-", c, " is missing"));
    }
    if (v.jump_count.at(c) != 1 || !v.jump_first.at(c)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: chain %s must jump to WARDEN-%s exactly once, as its first rule (found %d jump%s%s)",
          where, c, c, v.jump_count.at(c), v.jump_count.at(c) == 1 ? "" : "s",
          v.jump_first.at(c) ? "" : ", not first"));
    }
  }
  const FilterView want = parseFilter(buildIptablesRestore(state, fam.af, false, true));
  for (const char* c : kBuiltinChains) {
    const auto& have_rules = v.warden_rules.at(c);
    const auto& want_rules = want.warden_rules.at(c);
    if (have_rules == want_rules) continue;
    std::size_t i = 0;
    while (i < have_rules.size() && i < want_rules.size() && have_rules[i] == want_rules[i]) ++i;
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: chain WARDEN-%s differs at rule %d: found '%s', expected '%s'", where,
                        c, i + 1, i < have_rules.size() ? have_rules[i] : "(end)",
                        i < want_rules.size() ? want_rules[i] : "(end)"));
  }
  return absl::OkStatus();
}

class IptablesFirewall : public Firewall {
 public:
  std::string backend() const override { return "iptables"; }

  absl::StatusOr<FirewallReport> apply(const ContainmentState& state) override {
    std::lock_guard<std::mutex> lock(mu_);
    FirewallReport report;
    report.backend = backend();
    auto prior = digestLocked();
    if (!prior.ok()) return prior.status();
    report.prior_digest = *prior;
    // IPv4 and IPv6 are one unit: when the second commit fails, the first is put back as
    // it was, and the error says whether that worked.
    std::vector<std::pair<const Family*, FilterView>> committed;
    for (const Family& fam : kFamilies) {
      auto save = saveFilter(fam);
      if (!save.ok()) return save.status();
      FilterView before = parseFilter(*save);
      const std::string input = restoreInput(state, fam.af, before);
      // --noflush: only what the input names changes; -w: wait (bounded) for the xtables lock.
      auto restored = runChecked(fam.restore, {"--noflush", "-w", "5"}, input);
      if (!restored.ok()) {
        std::string undone;
        for (const auto& [done, view] : committed) {
          auto back = runChecked(done->restore, {"--noflush", "-w", "5"}, rollbackInput(view));
          absl::StrAppend(&undone, "; ", done->restore, " changes ",
                          back.ok() ? "rolled back"
                                    : absl::StrCat("NOT rolled back: ", back.status().message()));
        }
        return absl::Status(restored.status().code(),
                            absl::StrCat(fam.restore, " rejected WARDEN chains: ",
                                         restored.status().message(), undone));
      }
      committed.emplace_back(&fam, std::move(before));
      absl::StrAppend(&report.applied, "# ", fam.restore, "\n", input);
    }
    if (state.isolation) {
      report.warnings.push_back(
          "the iptables backend has no egress hook: raw (AF_PACKET) sockets are not stopped");
    }
    std::string installed;
    if (auto st = checkLocked(state, &installed); !st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat("Read-back after applying failed: ", st.message()));
    }
    report.installed_digest = sha256Hex(installed);
    return report;
  }

  absl::Status verify(const ContainmentState& state) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string installed;
    return checkLocked(state, &installed);
  }

  absl::StatusOr<std::string> rulesetDigest() override {
    std::lock_guard<std::mutex> lock(mu_);
    return digestLocked();
  }

  absl::StatusOr<std::string> installedDigest(const ContainmentState& state) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string installed;
    if (auto st = checkLocked(state, &installed); !st.ok()) return st;
    return sha256Hex(installed);
  }

 private:
  absl::Status checkLocked(const ContainmentState& state, std::string* installed) {
    for (const Family& fam : kFamilies) {
      auto save = saveFilter(fam);
      if (!save.ok()) return save.status();
      const FilterView v = parseFilter(*save);
      if (auto st = checkFamily(state, fam, v); !st.ok()) return st;
      absl::StrAppend(installed, "# ", fam.save, "\n", wardenLines(v));
    }
    return absl::OkStatus();
  }

  // All tables of both families, without the timestamped comments and the packet counters.
  absl::StatusOr<std::string> digestLocked() {
    std::string all;
    for (const Family& fam : kFamilies) {
      auto save = runChecked(fam.save, {});
      if (!save.ok()) return save.status();
      absl::StrAppend(&all, "# ", fam.save, "\n");
      for (absl::string_view sv : absl::StrSplit(*save, '\n', absl::SkipEmpty())) {
        std::string line(sv);
        if (absl::StartsWith(line, "#")) continue;
        if (absl::StartsWith(line, ":")) {
          if (auto b = line.rfind(" ["); b != std::string::npos) line.resize(b);
        }
        absl::StrAppend(&all, line, "\n");
      }
    }
    return sha256Hex(all);
  }

  std::mutex mu_;
};

}  // namespace

std::unique_ptr<Firewall> makeIptablesFirewall() { return std::make_unique<IptablesFirewall>(); }

absl::Status probeIptables() {
  for (const Family& fam : kFamilies) {
    for (const char* tool : {fam.save, fam.restore}) {
      if (auto path = findTool(tool); !path.ok()) return path.status();
    }
  }
  return absl::OkStatus();
}

}  // namespace warden::linux_os
