// `warden collect` with the sandboxed collector (agent/os/triage.h, writeTriageBundleSandboxed):
// the agent starts the collector, gives it its orders, checks from /proc that it confined
// itself before taking anything from it, writes what it sends through a CollectorIntake, takes
// its own steps when asked (and after the collector, whatever it did not ask for), and
// records how the collector ended: in the manifest's "collector" and in the member
// commands/collector.json, whose error says why when the collection is incomplete.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/os/linux/child_process.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/linux/triage/collector_intake.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/json_fields.h"
#include "agent/os/triage.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

using triage::Bundle;
using triage::CollectorIntake;

constexpr std::size_t kMaxStderr = 8u << 10;
constexpr const char* kStatusFields[] = {
    "Uid",    "Gid",    "Groups",     "CapPrm",  "CapEff",
    "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"};

// The collector's confinement as the kernel shows it (/proc/PID/status), read by the agent.
Json confinementOf(pid_t pid) {
  std::string status;
  Json j = Json::object();
  if (!readProcFile(AT_FDCWD, absl::StrCat("/proc/", pid, "/status").c_str(), status, 16384)) {
    return j;
  }
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    const std::size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view key = line.substr(0, colon);
    for (const char* field : kStatusFields) {
      if (key != field) continue;
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      for (char& c : value) c = c == '\t' ? ' ' : c;
      j[field] = value;
    }
  }
  return j;
}

// Why `c` is not a confined collector running as `uid`:`gid`; "" when it is one. (The bounding
// set is not required empty: an agent whose unit withholds CAP_SETPCAP cannot empty it, and
// with no_new_privs and no exec it grants nothing.)
std::string unconfinedBecause(const Json& c, std::uint32_t uid, std::uint32_t gid) {
  const auto field = [&](const char* k) { return c.contains(k) ? c[k].get<std::string>() : ""; };
  if (field("Seccomp") != "2") return absl::StrCat("Seccomp is \"", field("Seccomp"), "\", not 2");
  if (field("NoNewPrivs") != "1") return "no_new_privs is not set";
  const auto all = [&](const char* k, std::uint32_t want) {
    const std::string value = field(k);
    const std::vector<absl::string_view> ids = absl::StrSplit(value, ' ', absl::SkipEmpty());
    return ids.size() == 4 &&
           std::all_of(ids.begin(), ids.end(), [&](auto id) { return id == std::to_string(want); });
  };
  if (!all("Uid", uid)) return absl::StrCat("it runs as uid ", field("Uid"));
  if (!all("Gid", gid)) return absl::StrCat("it runs as gid ", field("Gid"));
  if (!field("Groups").empty()) return absl::StrCat("it is in the groups ", field("Groups"));
  // Effective, permitted (which capset could make effective again) and ambient. It sends
  // nothing before it has dropped CAP_SYS_PTRACE (collector_main.cc): CAP_DAC_READ_SEARCH only.
  constexpr std::uint64_t kAllowed = 1ull << 2;
  for (const char* set : {"CapEff", "CapPrm", "CapAmb"}) {
    std::uint64_t caps = 0;
    if (!absl::SimpleHexAtoi(field(set), &caps)) return absl::StrCat(set, " cannot be read");
    const std::uint64_t allowed = std::string_view(set) == "CapAmb" ? 0 : kAllowed;
    if ((caps & ~allowed) != 0) return absl::StrCat("it holds capabilities ", set, " ", field(set));
  }
  return "";
}

std::string describeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited ", WEXITSTATUS(status));
  if (!WIFSIGNALED(status)) return absl::StrCat("ended with status ", status);
  const int sig = WTERMSIG(status);
  if (sig == SIGSYS) {
    return absl::StrCat("killed by signal ", sig,
                        " (SIGSYS: a system call outside its seccomp allowlist)");
  }
  const char* abbrev = sigabbrev_np(sig);
  return absl::StrCat("killed by signal ", sig, " (SIG", abbrev != nullptr ? abbrev : "?", ")");
}

absl::Status sendAll(int fd, const std::string& bytes) {
  std::string_view left = bytes;
  while (!left.empty()) {
    const ssize_t w = ::send(fd, left.data(), left.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errnoStatus(errno, "Failed to write to the collector");
    left.remove_prefix(static_cast<std::size_t>(w));
  }
  return absl::OkStatus();
}

// What the agent knows of one collector run, for the manifest and the result.
struct Run {
  pid_t pid = -1;
  std::string program;
  Json confinement = Json::object();
  std::string stopped;  // why the agent stopped it; "" when it did not
  std::string ended;    // how it ended
  std::string err;      // its stderr, bounded
  std::uint64_t err_dropped = 0;
};

// The agent's own step `step`, with what it took of the limits for the collector's count.
absl::StatusOr<v1::CollectorStepDone> agentStep(Bundle& bundle, triage::CollectorStep step) {
  const std::uint64_t before = bundle.remaining();
  const std::size_t members = bundle.memberCount();
  WARDEN_RETURN_IF_ERROR(triage::addAgentStep(bundle, step));
  v1::CollectorStepDone done;
  done.set_content_bytes(before - bundle.remaining());
  done.set_members(bundle.memberCount() - members);
  return done;
}

// Keeps what the collector writes on stderr, bounded; false at its end.
bool readStderr(int fd, Run& run) {
  char buf[4096];
  const ssize_t r = ::read(fd, buf, sizeof(buf));
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (r <= 0) return false;
  const std::size_t got = static_cast<std::size_t>(r);
  const std::size_t keep = std::min(got, kMaxStderr - std::min(kMaxStderr, run.err.size()));
  run.err.append(buf, keep);
  run.err_dropped += got - keep;
  return true;
}

// Talks to the collector until it ends, breaks the protocol, or outlives the deadline. An error
// only for the agent's own failures (writing the bundle).
absl::Status converse(Bundle& bundle, CollectorIntake& intake, int sock, int err, Run& run,
                      const CollectorSandbox& sandbox) {
  const absl::Time deadline = absl::Now() + sandbox.timeout;
  triage::FrameReader reader;
  bool checked = false;
  std::vector<char> buf(1u << 16);
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      run.stopped =
          absl::StrCat("it did not finish within ", absl::FormatDuration(sandbox.timeout));
      return absl::OkStatus();
    }
    pollfd fds[2] = {{sock, POLLIN, 0}, {err, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoStatus(errno, "poll failed");
    if (fds[1].revents != 0 && !readStderr(err, run)) err = -1;  // poll ignores -1
    if (fds[0].revents == 0) continue;
    const ssize_t r = ::read(sock, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return absl::OkStatus();  // the collector closed its end: it is done or dead
    reader.feed(std::string_view(buf.data(), static_cast<std::size_t>(r)));
    for (;;) {
      absl::StatusOr<std::optional<v1::CollectorMessage>> m = reader.next();
      if (!m.ok()) {
        run.stopped = std::string(m.status().message());
        return absl::OkStatus();
      }
      if (!m->has_value()) break;
      if (!checked) {
        // Nothing is taken from a collector that is not confined as it must be.
        checked = true;
        run.confinement = confinementOf(run.pid);
        if (const std::string why = unconfinedBecause(run.confinement, sandbox.uid, sandbox.gid);
            !why.empty()) {
          run.stopped = absl::StrCat("it is not confined: ", why);
          return absl::OkStatus();
        }
      }
      absl::StatusOr<CollectorIntake::Request> request = intake.take(**m);
      if (!request.ok()) {
        if (request.status().code() != absl::StatusCode::kInvalidArgument) {
          return request.status();
        }
        run.stopped = std::string(request.status().message());
        return absl::OkStatus();
      }
      if (request->step) {
        WARDEN_ASSIGN_OR_RETURN(v1::CollectorStepDone done, agentStep(bundle, *request->step));
        v1::CollectorMessage answer;
        *answer.mutable_step_done() = done;
        if (!sendAll(sock, triage::frameMessage(answer)).ok()) return absl::OkStatus();
      }
      // Nothing may follow its end (the intake refuses it): no waiting for it to close.
      if (request->end) return absl::OkStatus();
    }
  }
}

// Reaps the collector: a few seconds to exit on its own after its stream closed, then killed
// and a few seconds more. A child that outlives SIGKILL (stuck in a file system that never
// answers, which any user can mount) is left to a detached reaper, not waited for: nullopt.
std::optional<int> reap(pid_t pid, bool kill_now) {
  if (kill_now) ::kill(pid, SIGKILL);
  bool killed = kill_now;
  int status = 0;
  absl::Time give_up = absl::Now() + absl::Seconds(5);
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) return status;
    if (w < 0 && errno != EINTR) return 0;
    if (absl::Now() >= give_up) {
      if (killed) {
        std::thread([pid] {
          int ignored = 0;
          while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
          }
        }).detach();
        return std::nullopt;
      }
      ::kill(pid, SIGKILL);
      killed = true;
      give_up = absl::Now() + absl::Seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Json collectorRecord(const Run& run, const CollectorIntake& intake, const std::string& error) {
  Json j;
  triage::putText(j, "program", run.program);
  j["pid"] = run.pid;
  j["confinement"] = run.confinement;
  if (const auto& s = intake.sandbox(); s) {
    Json landlock;
    landlock["abi"] = s->landlock_abi();
    std::vector<std::string> read(s->read_paths().begin(), s->read_paths().end());
    std::vector<std::string> live(s->live_read_paths().begin(), s->live_read_paths().end());
    std::vector<std::string> withheld(s->withheld().begin(), s->withheld().end());
    landlock["live_read_paths"] = triage::textArray(live);
    landlock["read_paths"] = triage::textArray(read);
    landlock["withheld"] = triage::textArray(withheld);
    triage::putText(landlock, "note", s->note());
    j["landlock"] = std::move(landlock);
  } else {
    j["landlock"] = nullptr;  // it never reported: it did not get that far
  }
  j["ended"] = run.ended;
  triage::putText(j, "stopped_by_agent", run.stopped);
  triage::putText(j, "error", error);
  j["messages"] = intake.messages();
  triage::putText(j, "stderr", run.err);
  if (run.err_dropped > 0) j["stderr_dropped_bytes"] = run.err_dropped;
  return j;
}

// commands/collector.json: the record above as a member, failed (its error set) when the
// collection is incomplete.
absl::Status addCollectorMember(Bundle& bundle, const Json& record, const std::string& error) {
  const std::string name = "commands/collector.json";
  if (!bundle.admit(name)) return absl::OkStatus();
  TriageMember m = bundle.outputMember(name, "the agent's record of the collector");
  const std::string json = dumpJson(record, 2) + "\n";
  const char* limit = bundle.capName();
  if (bundle.capNow() < json.size()) {
    bundle.listUncollected(std::move(m), error.empty() ? triage::kTotalLimitError : error);
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(triage::Spool spool, bundle.newSpool(name, bundle.capNow()));
  spool.appendSome(json);
  m.error = error;
  return bundle.archiveOutput(std::move(m), spool, json.size(), limit);
}

}  // namespace

absl::StatusOr<TriageResult> writeTriageBundleSandboxed(const std::string& out_path,
                                                        const TriageOptions& options,
                                                        const CollectorSandbox& sandbox) {
  const TriageLimits& limits = options.limits;
  if (limits.max_member_bytes == 0 || limits.max_total_bytes == 0 || limits.max_members == 0) {
    return absl::InvalidArgumentError("triage limits must be positive");
  }
  if (options.root.empty() || options.root[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("triage root must be an absolute path, not \"", options.root, "\""));
  }
  if (sandbox.uid == 0 || sandbox.gid == 0) {
    return absl::InvalidArgumentError("the collector's uid and gid must not be 0");
  }
  Bundle bundle(options, out_path);
  WARDEN_RETURN_IF_ERROR(bundle.create());
  CollectorIntake intake(bundle);
  Run run;
  run.program = absl::StrJoin(sandbox.argv, " ");

  int pair[2], pipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return errnoStatus(errno, "Failed to create the collector's socket");
  }
  UniqueFd sock(pair[0]), child_sock(pair[1]);
  if (::pipe2(pipe, O_CLOEXEC) != 0) return errnoStatus(errno, "Failed to create a pipe");
  UniqueFd err_read(pipe[0]), err_write(pipe[1]);
  absl::StatusOr<pid_t> pid =
      linux_os::spawnChild(sandbox.argv, child_sock.get(), child_sock.get(), err_write.get());
  child_sock.reset();
  err_write.reset();
  absl::Status failure;
  if (!pid.ok()) {
    run.ended = absl::StrCat("not started: ", pid.status().message());
  } else {
    run.pid = *pid;
    triage::CollectorOrders orders;
    orders.root = options.root;
    orders.limits = limits;
    orders.withheld = sandbox.withheld;
    orders.uid = sandbox.uid;
    orders.gid = sandbox.gid;
    orders.fault = sandbox.fault;
    v1::CollectorMessage first;
    *first.mutable_orders() = triage::ordersToWire(orders);
    if (absl::Status s = sendAll(sock.get(), triage::frameMessage(first)); s.ok()) {
      failure = converse(bundle, intake, sock.get(), err_read.get(), run, sandbox);
    } else {
      run.stopped = std::string(s.message());
    }
    sock.reset();
    const std::optional<int> status = reap(*pid, !run.stopped.empty() || !failure.ok());
    // It has exited: what it wrote last (why it failed) is still in the pipe.
    (void)::fcntl(err_read.get(), F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 64 && readStderr(err_read.get(), run);) ++i;
    run.ended = status ? describeExit(*status)
                       : "still there 5 s after SIGKILL (stuck in the kernel; reaped when it "
                         "returns)";
    if (!run.stopped.empty()) run.ended = absl::StrCat("stopped by the agent: ", run.stopped);
  }
  if (!failure.ok()) {
    bundle.discard();
    return failure;
  }
  const bool completed = intake.ended() && run.stopped.empty() && run.ended == "exited 0";
  std::string error;
  if (!completed) {
    error = absl::StrFormat(
        "triage collector %s, after %d messages%s; the members it had not sent are missing",
        run.ended, intake.messages(),
        intake.lastMember().empty()
            ? ""
            : absl::StrCat(" (the last: ", triage::shownName(intake.lastMember()), ")"));
  }
  absl::Status done = intake.close(run.ended);
  // The agent's own steps the collector did not get to ask for: the firewall and the journal
  // are evidence whatever became of the collector.
  for (std::uint32_t step = intake.lastStep(); done.ok() && step < triage::kStepCount; ++step) {
    done = triage::addAgentStep(bundle, static_cast<triage::CollectorStep>(step));
  }
  const Json record = collectorRecord(run, intake, error);
  if (done.ok()) done = addCollectorMember(bundle, record, error);
  bundle.setCollector(record);
  absl::StatusOr<TriageResult> result =
      done.ok() ? bundle.finish() : absl::StatusOr<TriageResult>(done);
  if (!result.ok()) {
    bundle.discard();
    return result.status();
  }
  result->collector = run.ended;
  result->collector_error = error;
  return result;
}

}  // namespace warden
