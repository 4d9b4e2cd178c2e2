// The sandboxed collector (`warden-agent triage-collector`, exec'd by the agent): orders in,
// confinement (collector_sandbox.h), the live links, CAP_SYS_PTRACE dropped and Landlock, the
// live tables, the agent's network step, the host files, the agent's journal step, the end.
// Everything goes to the agent over the stream; this process writes no file.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/os/linux/triage/collector_sandbox.h"
#include "agent/os/linux/triage/collector_stream.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/triage.h"

namespace warden {
namespace {

int fail(const char* stage, const absl::Status& s) {
  std::fprintf(stderr, "triage collector: %s: %s\n", stage, std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int runTriageCollector(int in_fd, int out_fd) {
  triage::CollectorStream stream(in_fd, out_fd);
  absl::StatusOr<v1::CollectorMessage> first = stream.receive();
  if (!first.ok()) return fail("reading the orders", first.status());
  if (!first->has_orders()) {
    return fail("reading the orders", absl::InvalidArgumentError("the first message is no orders"));
  }
  absl::StatusOr<triage::CollectorOrders> orders = triage::ordersFromWire(first->orders());
  if (!orders.ok()) return fail("reading the orders", orders.status());
  triage::TriageRoot root;
  if (absl::Status s = root.open(orders->root); !s.ok()) return fail("opening the root", s);
  if (absl::Status s =
          triage::confineCollector(orders->uid, orders->gid, orders->limits, root.real() == "/");
      !s.ok()) {
    return fail("confining itself", s);
  }

  TriageOptions options;
  options.root = orders->root;
  options.limits = orders->limits;
  triage::Bundle bundle(options, stream);
  if (absl::Status s = bundle.create(); !s.ok()) return fail("starting", s);
  triage::CollectionSteps steps;
  steps.agent_step = [&](triage::Bundle& b, triage::CollectorStep step) -> absl::Status {
    absl::StatusOr<v1::CollectorStepDone> done = stream.step(step);
    if (!done.ok()) return done.status();
    b.countContent(done->content_bytes());
    b.countOtherMembers(static_cast<std::size_t>(done->members()));
    if (step != triage::kStepNetworkTables) return absl::OkStatus();
    // Test faults, between the live tables and the host files.
    if (orders->fault == "forbidden-syscall") {
      // Outside the allowlist: the kernel kills this process here (SIGSYS).
      (void)::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    } else if (orders->fault == "stall") {
      (void)stream.receive();  // the agent never writes again: waits until it is killed
    }
    return absl::OkStatus();
  };
  steps.after_live_links = [&](triage::Bundle&, const triage::TriageRoot& r) -> absl::Status {
    // CAP_SYS_PTRACE goes before the first byte the host wrote is parsed (collectorReadPaths
    // reads /etc/passwd and sshd_config): with it, this process could read the agent's memory.
    if (absl::Status s = triage::dropPtrace(); !s.ok()) return s;
    if (absl::Status s = triage::restrictToAllBut(orders->withheld); !s.ok()) return s;
    if (absl::StartsWith(orders->fault, "open-early:")) {
      // Test: what a collector taken over while it parses the accounts could still open.
      for (absl::string_view path : absl::StrSplit(orders->fault.substr(11), ',')) {
        const std::string p(path);
        const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
        std::fprintf(stderr, "open %s: %s\n", p.c_str(), fd >= 0 ? "opened" : std::strerror(errno));
        if (fd >= 0) ::close(fd);
      }
    }
    absl::StatusOr<v1::CollectorSandbox> report =
        triage::restrictCollectorReads(r, triage::collectorReadPaths(r), orders->withheld);
    if (!report.ok()) return report.status();
    if (absl::Status s = stream.sandbox(*report); !s.ok()) return s;
    return absl::OkStatus();
  };
  if (absl::Status s = triage::collectAll(bundle, root, steps); !s.ok()) {
    return fail("collecting", s);
  }
  if (absl::StatusOr<TriageResult> done = bundle.finish(); !done.ok()) {
    return fail("finishing", done.status());
  }
  return 0;
}

}  // namespace warden
