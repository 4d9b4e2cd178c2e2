// Login sessions: listing, selection and the freeze/record/kill loop (see session_selector.h).
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "agent/actions/host_actions.h"
#include "agent/actions/session_selector.h"
#include "common/crypto/encoding.h"
#include "common/net.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

constexpr char kAuditSessionPrefix[] = "";
constexpr char kPosixSessionPrefix[] = "sid-";
constexpr char kNoSession[] = "sid-0";
constexpr std::int64_t kSettlePauseUs = 200;
constexpr std::int64_t kAwaitExitUs = 100'000;
constexpr std::int64_t kExitGraceUs = 1'000'000;
// ~200 bytes each in the receipt: the cap keeps it well under gRPC's 4 MiB message limit.
constexpr std::size_t kMaxReportedProcesses = 8192;

std::string sessionKey(const ProcessRecord& p) {
  if (p.loginuid >= 0 && p.audit_session >= 0) {
    return absl::StrFormat("%s%d", kAuditSessionPrefix, p.audit_session);
  }
  return absl::StrFormat("%s%d", kPosixSessionPrefix, p.posix_session);
}

bool isGone(const ProcessRecord& p) { return p.state == 'Z' || p.state == 'X' || p.state == 'x'; }

std::optional<std::int64_t> parseNumber(std::string_view text) {
  std::int64_t v = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

std::string normalizeTty(std::string_view tty) {
  if (tty.starts_with("/dev/")) tty.remove_prefix(5);
  return std::string(tty);
}

// What kill-sessions was asked to do.
struct SessionSelector {
  std::set<uid_t> users;
  std::set<std::string> sessions;
  std::set<std::string> ttys;
  std::vector<IpPrefix> from;
  std::set<pid_t> pids;
  std::set<uid_t> except;
  bool dry_run = false;

  bool empty() const {
    return users.empty() && sessions.empty() && ttys.empty() && from.empty() && pids.empty();
  }
};

absl::StatusOr<SessionSelector> parseSelector(const std::vector<std::string>& args,
                                              HostProcesses& host) {
  SessionSelector s;
  for (const std::string& arg : args) {
    const std::size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat("malformed argument \"%s\"", arg));
    }
    const std::string key = arg.substr(0, eq);
    const std::string value = arg.substr(eq + 1);
    if (key == "user" || key == "except") {
      const std::optional<uid_t> uid = host.uidOf(value);
      if (!uid) return absl::InvalidArgumentError(absl::StrFormat("unknown user \"%s\"", value));
      (key == "user" ? s.users : s.except).insert(*uid);
    } else if (key == "session") {
      std::string_view v = value;
      if (v.starts_with(kPosixSessionPrefix)) v.remove_prefix(sizeof(kPosixSessionPrefix) - 1);
      if (!parseNumber(v)) {
        return absl::InvalidArgumentError(absl::StrFormat("malformed session id \"%s\"", value));
      }
      s.sessions.insert(value);
    } else if (key == "tty") {
      const std::string tty = normalizeTty(value);
      if (tty.empty() || tty.find("..") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrFormat("malformed tty \"%s\"", value));
      }
      s.ttys.insert(tty);
    } else if (key == "from") {
      absl::StatusOr<IpPrefix> prefix = IpPrefix::parse(value);
      if (!prefix.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("malformed address \"%s\": %s", value, prefix.status().message()));
      }
      s.from.push_back(*prefix);
    } else if (key == "pid") {
      const std::optional<std::int64_t> pid = parseNumber(value);
      if (!pid || *pid == 0 || *pid > (1 << 22)) {
        return absl::InvalidArgumentError(absl::StrFormat("malformed pid \"%s\"", value));
      }
      s.pids.insert(static_cast<pid_t>(*pid));
    } else if (key == "dry_run") {
      if (value != "1" && value != "0") {
        return absl::InvalidArgumentError(absl::StrFormat("malformed dry_run \"%s\"", value));
      }
      s.dry_run = value == "1";
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unknown argument \"%s\"", key));
    }
  }
  if (s.empty()) {
    return absl::InvalidArgumentError("no selector: give user, session, tty, from or pid");
  }
  return s;
}

// One scan of the process table, indexed, with the sessions it forms.
class ProcessView {
 public:
  ProcessView(std::vector<ProcessRecord> procs, std::vector<UtmpEntry> utmp, pid_t agent_pid)
      : procs_(std::move(procs)), utmp_(std::move(utmp)) {
    for (std::size_t i = 0; i < procs_.size(); ++i) {
      by_pid_[procs_[i].pid] = i;
      children_[procs_[i].ppid].push_back(i);
    }
    for (const ProcessRecord& p : procs_) {
      if (p.pid == 1 || p.kernel_thread) protected_.insert(p.pid);
    }
    for (std::size_t i : subtree({agent_pid})) protected_.insert(procs_[i].pid);
    // Session 0: the leader is outside this PID namespace (or a kernel thread); it names no
    // session of this host, so it is neither listed nor given a user.
    for (const ProcessRecord& p : procs_) {
      const std::string key = sessionKey(p);
      if (!protected_.contains(p.pid) && key != kNoSession) sessions_[key].push_back(p.pid);
    }
  }

  const std::vector<ProcessRecord>& procs() const { return procs_; }
  const std::vector<UtmpEntry>& utmp() const { return utmp_; }
  const std::map<std::string, std::vector<pid_t>>& sessions() const { return sessions_; }
  bool isProtected(pid_t pid) const { return protected_.contains(pid); }
  const ProcessRecord* find(pid_t pid) const {
    auto it = by_pid_.find(pid);
    return it == by_pid_.end() ? nullptr : &procs_[it->second];
  }

  // Indexes of `roots` and all their descendants (bounded by the table size: each process is
  // visited once).
  std::vector<std::size_t> subtree(const std::vector<pid_t>& roots) const {
    std::vector<std::size_t> out;
    std::set<pid_t> seen;
    std::vector<pid_t> stack(roots.begin(), roots.end());
    while (!stack.empty()) {
      const pid_t pid = stack.back();
      stack.pop_back();
      if (pid <= 0 || !seen.insert(pid).second) continue;
      auto it = by_pid_.find(pid);
      if (it == by_pid_.end()) continue;
      out.push_back(it->second);
      auto c = children_.find(pid);
      if (c == children_.end()) continue;
      for (std::size_t i : c->second) stack.push_back(procs_[i].pid);
    }
    return out;
  }

  // The session's leader: for a POSIX session the process whose pid is the sid, else the
  // earliest started one.
  const ProcessRecord* leader(const std::string& key) const {
    auto it = sessions_.find(key);
    if (it == sessions_.end() || it->second.empty()) return nullptr;
    const ProcessRecord* best = nullptr;
    for (pid_t pid : it->second) {
      const ProcessRecord* p = find(pid);
      if (key.starts_with(kPosixSessionPrefix) && p->pid == p->posix_session) return p;
      if (!best || p->start_time < best->start_time ||
          (p->start_time == best->start_time && p->pid < best->pid)) {
        best = p;
      }
    }
    return best;
  }

  // The session's user: the login uid for an audit session, the leader's real uid otherwise.
  std::optional<uid_t> sessionUser(const std::string& key) const {
    const ProcessRecord* l = leader(key);
    if (!l) return std::nullopt;
    if (l->loginuid >= 0) return static_cast<uid_t>(l->loginuid);
    return l->uid;
  }

  // The utmp record of a session: one naming a process of it, or its POSIX sid.
  const UtmpEntry* utmpOf(const std::string& key) const {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    for (const UtmpEntry& u : utmp_) {
      for (pid_t pid : it->second) {
        const ProcessRecord* p = find(pid);
        if (u.pid == pid || (u.session > 0 && u.session == p->posix_session)) return &u;
      }
    }
    return nullptr;
  }

 private:
  std::vector<ProcessRecord> procs_;
  std::vector<UtmpEntry> utmp_;
  std::map<pid_t, std::size_t> by_pid_;
  std::map<pid_t, std::vector<std::size_t>> children_;
  std::set<pid_t> protected_;
  std::map<std::string, std::vector<pid_t>> sessions_;
};

std::optional<IpPrefix> remoteAddress(const std::string& host) {
  absl::StatusOr<IpPrefix> p = IpPrefix::parse(host);
  if (p.ok()) return *p;
  return std::nullopt;
}

// The selected, live, unprotected processes of a scan.
std::vector<ProcessRecord> select(const ProcessView& view, const SessionSelector& s) {
  // Sessions named by their utmp record: --from (remote address) and --tty (the login line,
  // which also covers processes that have no controlling terminal of their own).
  std::set<std::string> from_sessions;
  if (!s.from.empty() || !s.ttys.empty()) {
    for (const auto& [key, pids] : view.sessions()) {
      const UtmpEntry* u = view.utmpOf(key);
      if (!u) continue;
      if (s.ttys.contains(normalizeTty(u->line))) from_sessions.insert(key);
      const std::optional<IpPrefix> addr = remoteAddress(u->host);
      if (!addr) continue;
      for (const IpPrefix& prefix : s.from) {
        if (prefix.contains(*addr)) from_sessions.insert(key);
      }
    }
  }
  // --tty names the login session whose processes use that terminal: select all of it.
  if (!s.ttys.empty()) {
    for (const ProcessRecord& p : view.procs()) {
      const std::string key = sessionKey(p);
      if (!p.tty.empty() && s.ttys.contains(p.tty) && key != kNoSession &&
          !view.isProtected(p.pid)) {
        from_sessions.insert(key);
      }
    }
  }
  std::map<std::string, std::optional<uid_t>> session_users;
  auto sessionUser = [&](const std::string& key) {
    auto it = session_users.find(key);
    if (it == session_users.end()) it = session_users.emplace(key, view.sessionUser(key)).first;
    return it->second;
  };
  std::vector<pid_t> roots;
  for (const ProcessRecord& p : view.procs()) {
    if (view.isProtected(p.pid)) continue;
    const std::string key = sessionKey(p);
    bool match = s.users.contains(p.uid) || s.users.contains(p.euid) ||
                 (p.loginuid >= 0 && s.users.contains(static_cast<uid_t>(p.loginuid))) ||
                 s.sessions.contains(key) || (!p.tty.empty() && s.ttys.contains(p.tty)) ||
                 from_sessions.contains(key) || s.pids.contains(p.pid);
    if (!match && !s.users.empty()) {
      const std::optional<uid_t> su = sessionUser(key);
      match = su && s.users.contains(*su);
    }
    if (match) roots.push_back(p.pid);
  }
  std::vector<ProcessRecord> out;
  for (std::size_t i : view.subtree(roots)) {
    const ProcessRecord& p = view.procs()[i];
    if (view.isProtected(p.pid) || isGone(p)) continue;
    const uid_t user = p.loginuid >= 0 ? static_cast<uid_t>(p.loginuid) : p.uid;
    if (s.except.contains(user)) continue;
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const ProcessRecord& a, const ProcessRecord& b) { return a.pid < b.pid; });
  return out;
}

ActionOutcome failed(const absl::Status& status) { return failure(std::string(status.message())); }

class SessionActionsImpl : public SessionActions {
 public:
  SessionActionsImpl(std::unique_ptr<HostProcesses> host, pid_t agent_pid, SessionKillLimits limits)
      : host_(std::move(host)), agent_pid_(agent_pid), limits_(limits) {}

  ActionOutcome list() override {
    names_.clear();
    absl::StatusOr<ProcessView> view = scan();
    if (!view.ok()) return failed(view.status());
    v1::SessionList list;
    for (const auto& [key, pids] : view->sessions()) {
      const ProcessRecord* leader = view->leader(key);
      const UtmpEntry* u = view->utmpOf(key);
      std::string tty = leader->tty;
      bool any_root = false;
      for (pid_t pid : pids) {
        const ProcessRecord* p = view->find(pid);
        if (p->euid == 0) any_root = true;
        if (tty.empty()) tty = p->tty;
      }
      if (tty.empty() && u) tty = u->line;
      const bool audit = !key.starts_with(kPosixSessionPrefix);
      if (!audit && tty.empty() && !u && leader->uid == 0) continue;  // a daemon, not a login
      v1::LoginSession* s = list.add_sessions();
      s->set_id(key);
      s->set_user(nameOf(*view->sessionUser(key)));
      s->set_tty(tty);
      s->set_remote(u ? u->host : "");
      s->set_login_unix_ms(u ? u->login_unix_ms : host_->startUnixMs(*leader));
      s->set_leader_pid(leader->pid);
      s->set_process_count(static_cast<std::uint32_t>(pids.size()));
      s->set_any_root(any_root);
    }
    ActionOutcome o;
    o.ok = true;
    o.message = absl::StrFormat("%d login sessions", list.sessions_size());
    o.details[kResultDetail] = crypto::base64(list.SerializeAsString());
    return o;
  }

  ActionOutcome kill(const std::vector<std::string>& args) override {
    names_.clear();
    const std::int64_t t0 = host_->nowUs();
    const std::int64_t deadline = t0 + limits_.budget_us;
    absl::StatusOr<SessionSelector> sel = parseSelector(args, *host_);
    if (!sel.ok()) return invalidArgument(std::string(sel.status().message()));
    absl::StatusOr<ProcessView> view = scan();
    if (!view.ok()) return failed(view.status());
    for (const std::string& id : sel->sessions) {
      if (!view->sessions().contains(id)) {
        return invalidArgument(absl::StrFormat("no session \"%s\" on this host", id));
      }
    }
    for (pid_t pid : sel->pids) {
      const ProcessRecord* p = view->find(pid);
      if (!p || isGone(*p))
        return invalidArgument(absl::StrFormat("no process %d on this host", pid));
      if (view->isProtected(pid)) {
        return invalidArgument(absl::StrFormat(
            "process %d is PID 1, a kernel thread or the agent: never killed", pid));
      }
    }

    v1::KillReport report;
    report.set_dry_run(sel->dry_run);
    if (sel->dry_run) {
      std::vector<ProcessRecord> chosen = select(*view, *sel);
      if (chosen.size() > kMaxReportedProcesses) chosen.resize(kMaxReportedProcesses);
      recordAll(chosen, report.mutable_processes());
      report.set_rounds(0);
      report.set_elapsed_us(static_cast<std::uint64_t>(host_->nowUs() - t0));
      return done(report, absl::StrFormat("would kill %d processes", report.processes_size()));
    }

    report.set_freeze_method(host_->beginFreeze());
    std::set<std::pair<pid_t, std::uint64_t>> recorded;
    std::set<std::pair<pid_t, std::uint64_t>> frozen;
    std::vector<ProcessRecord> selected = select(*view, *sel);
    bool first = true;
    std::uint32_t rounds = 0;
    std::uint64_t unlisted = 0;
    absl::Status error;
    while (error.ok()) {
      // Freeze sweep: a frozen process cannot fork, but one may fork between our scan and
      // our freeze, so scan again until a pass finds nothing new (bounded).
      for (int sweep = 0; sweep < limits_.max_freeze_sweeps; ++sweep) {
        if (!first || sweep > 0) {
          view = scan(&view->procs());
          if (!view.ok()) {
            error = view.status();
            break;
          }
          selected = select(*view, *sel);
        }
        first = false;
        std::size_t fresh = 0;
        for (const ProcessRecord& p : selected) {
          if (frozen.insert({p.pid, p.start_time}).second) {
            ++fresh;
            (void)host_->freeze(p);  // gone already, or it is killed below regardless
          }
        }
        if (fresh == 0 || host_->nowUs() > deadline) break;
      }
      if (!error.ok() || selected.empty()) break;
      ++rounds;
      std::size_t fresh = 0;
      std::vector<ProcessRecord> to_record;
      for (const ProcessRecord& p : selected) {
        if (recorded.insert({p.pid, p.start_time}).second) {
          // A fork bomb must not make the receipt unbounded: past the cap, count only.
          if (report.processes_size() + to_record.size() < kMaxReportedProcesses) {
            to_record.push_back(p);
          } else {
            ++unlisted;
          }
          ++fresh;
        }
      }
      recordAll(to_record, report.mutable_processes());
      for (const ProcessRecord& p : selected) (void)host_->kill(p);
      host_->releaseKilled();
      host_->awaitExit(
          std::max<std::int64_t>(0, std::min(deadline - host_->nowUs(), kAwaitExitUs)));
      // Only processes already sent SIGKILL are left: give the kernel a moment to end them
      // rather than spinning on scans.
      if (fresh == 0) host_->pauseUs(kSettlePauseUs);
      if (host_->nowUs() > deadline) {
        // Whatever was sent SIGKILL gets a last moment to finish exiting before it is
        // called a survivor.
        host_->awaitExit(kExitGraceUs);
        view = scan();
        if (view.ok()) {
          std::vector<ProcessRecord> survivors = select(*view, *sel);
          if (survivors.size() > kMaxReportedProcesses) {
            report.set_unlisted_survivors(survivors.size() - kMaxReportedProcesses);
            survivors.resize(kMaxReportedProcesses);
          }
          recordAll(survivors, report.mutable_survivors());
        }
        break;
      }
    }
    host_->endFreeze();
    report.set_unlisted_processes(unlisted);
    report.set_rounds(rounds);
    report.set_elapsed_us(static_cast<std::uint64_t>(host_->nowUs() - t0));
    auto finish = [&](ActionOutcome o) {
      if (unlisted > 0) o.details["unlisted_processes"] = absl::StrFormat("%d", unlisted);
      o.details["killed"] = absl::StrFormat("%d", recorded.size());
      return o;
    };
    if (!error.ok()) {
      ActionOutcome o = done(report, absl::StrFormat("kill interrupted: %s", error.message()));
      o.ok = false;
      return finish(std::move(o));
    }
    if (report.survivors_size() > 0) {
      ActionOutcome o =
          done(report, absl::StrFormat("%d selected processes survived %d ms",
                                       report.survivors_size(), limits_.budget_us / 1000));
      o.ok = false;
      return finish(std::move(o));
    }
    return finish(done(report, absl::StrFormat("killed %d processes in %d rounds (%s)",
                                               recorded.size(), rounds, report.freeze_method())));
  }

 private:
  absl::StatusOr<ProcessView> scan(const std::vector<ProcessRecord>* known = nullptr) {
    absl::StatusOr<std::vector<ProcessRecord>> procs =
        known ? host_->rescan(*known) : host_->scan();
    if (!procs.ok()) return procs.status();
    absl::StatusOr<std::vector<UtmpEntry>> utmp = host_->utmp();
    if (!utmp.ok()) return utmp.status();
    return ProcessView(std::move(*procs), std::move(*utmp), agent_pid_);
  }

  // Appends a record of each of `procs` to `to`, their evidence read all at once (bounded in
  // time by the host: a read a hostile process makes hang does not hold the kill).
  void recordAll(const std::vector<ProcessRecord>& procs,
                 google::protobuf::RepeatedPtrField<v1::ProcessInfo>* to) {
    if (procs.empty()) return;
    const std::vector<ProcessEvidence> evidence = host_->evidence(procs);
    for (std::size_t i = 0; i < procs.size(); ++i) {
      record(procs[i], i < evidence.size() ? evidence[i] : ProcessEvidence{}, to->Add());
    }
  }

  void record(const ProcessRecord& p, const ProcessEvidence& e, v1::ProcessInfo* info) {
    info->set_pid(p.pid);
    info->set_ppid(p.ppid);
    info->set_uid(p.uid);
    info->set_euid(p.euid);
    info->set_loginuid(p.loginuid);
    info->set_audit_session(p.audit_session);
    info->set_posix_session(p.posix_session);
    info->set_tty(p.tty);
    info->set_exe(e.exe);
    info->set_exe_sha256(e.exe_sha256);
    info->set_cmdline(e.cmdline);
    info->set_unread(e.unread);
    info->set_start_time(p.start_time);
    info->set_start_unix_ms(host_->startUnixMs(p));
    info->set_user(nameOf(p.loginuid >= 0 ? static_cast<uid_t>(p.loginuid) : p.uid));
  }

  // passwd lookups read /etc/passwd each time; a kill records many processes of few users.
  std::string nameOf(uid_t uid) {
    if (names_.size() > 1024) names_.clear();
    auto it = names_.find(uid);
    if (it == names_.end()) it = names_.emplace(uid, host_->nameOf(uid)).first;
    return it->second;
  }

  static ActionOutcome done(const v1::KillReport& report, std::string message) {
    ActionOutcome o;
    o.ok = true;
    o.message = std::move(message);
    o.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    o.details["killed"] = absl::StrFormat("%d", report.processes_size());
    if (!report.freeze_method().empty()) o.details["freeze_method"] = report.freeze_method();
    return o;
  }

  std::unique_ptr<HostProcesses> host_;
  pid_t agent_pid_;
  SessionKillLimits limits_;
  std::map<uid_t, std::string> names_;
};

}  // namespace

std::unique_ptr<SessionActions> makeSessionActionsOn(std::unique_ptr<HostProcesses> host,
                                                     pid_t agent_pid, SessionKillLimits limits) {
  return std::make_unique<SessionActionsImpl>(std::move(host), agent_pid, limits);
}

}  // namespace warden
