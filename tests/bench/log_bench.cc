// scripts/bench-log: durable appends per second to the controller's action log
// (controller/action_log.h) with 1, 8 and 32 concurrent writers, ~300-byte entries, in a
// temporary directory under /var/tmp (a real disk, unlike a tmpfs /tmp). Every append returns
// only after its fdatasync; concurrent writers are group-committed.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"
#include "controller/action_log.h"

namespace warden {
namespace {

std::string g_dir;
std::unique_ptr<ActionLog> g_log;

void setUp() {
  std::string tmpl = "/var/tmp/warden-bench-log-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  g_dir = tmpl;
  auto key = crypto::Ed25519Key::generate();
  if (!key.ok()) std::abort();
  auto log = ActionLog::open(
      ActionLogOptions{.dir = g_dir + "/log", .origin = "warden.bench/log", .key = *key});
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    std::abort();
  }
  g_log = std::move(*log);
}

void tearDown() {
  g_log.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

void BM_DurableAppend(benchmark::State& state) {
  if (state.thread_index() == 0) setUp();
  std::string entry = absl::StrFormat("bench thread %d entry ", state.thread_index());
  entry.resize(300, 'x');
  for (auto _ : state) {
    auto index = g_log->append(entry);
    if (!index.ok()) {
      state.SkipWithError(index.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["log_size"] = static_cast<double>(g_log->size());
    tearDown();
  }
}
BENCHMARK(BM_DurableAppend)->Threads(1)->Threads(8)->Threads(32)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace warden

BENCHMARK_MAIN();
