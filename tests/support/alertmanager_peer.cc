#include "tests/support/alertmanager_peer.h"

#include <signal.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"

namespace warden::testing {
namespace {

std::string rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// The body of a curl run made with `-w '\n%{http_code}'`, and its status code.
struct CurlAnswer {
  std::string body;
  int status = 0;
};

CurlAnswer splitStatus(const std::string& out) {
  CurlAnswer a;
  const auto nl = out.rfind('\n');
  const std::string code = nl == std::string::npos ? out : out.substr(nl + 1);
  a.body = nl == std::string::npos ? "" : out.substr(0, nl);
  a.status = std::atoi(code.c_str());
  return a;
}

}  // namespace

absl::StatusOr<std::string> alertmanagerBinary() {
  for (const char* name : {"prometheus-alertmanager", "alertmanager"}) {
    auto found = findExecutable(name);
    if (found.ok()) return found;
  }
  return absl::NotFoundError(
      "Alertmanager is not installed (prometheus-alertmanager, Debian package "
      "prometheus-alertmanager): run scripts/setup");
}

std::string alertmanagerApiAlert(const std::map<std::string, std::string>& labels,
                                 absl::Time starts_at, absl::Time ends_at) {
  Json j;
  j["labels"] = Json::object();
  for (const auto& [k, v] : labels) j["labels"][k] = v;
  j["startsAt"] = rfc3339(starts_at);
  if (ends_at != absl::InfinitePast()) j["endsAt"] = rfc3339(ends_at);
  return dumpJson(j);
}

absl::StatusOr<std::unique_ptr<AlertmanagerPeer>> AlertmanagerPeer::start(
    const TestHost& host, const std::string& config_yaml, std::uint16_t port,
    absl::Duration ready_within) {
  WARDEN_ASSIGN_OR_RETURN(std::string binary, alertmanagerBinary());
  std::unique_ptr<AlertmanagerPeer> am(new AlertmanagerPeer(host, port));
  am->dir_ = host.dir() + "/alertmanager";
  std::error_code ec;
  std::filesystem::create_directories(am->dir_ + "/data", ec);
  if (ec) return absl::InternalError("Failed to create " + am->dir_ + ": " + ec.message());
  const std::string config = am->dir_ + "/alertmanager.yml";
  WARDEN_RETURN_IF_ERROR(host.writeFile(config, config_yaml));
  WARDEN_ASSIGN_OR_RETURN(
      am->process_,
      host.spawn({binary, "--config.file=" + config, "--storage.path=" + am->dir_ + "/data",
                  absl::StrFormat("--web.listen-address=127.0.0.1:%d", port),
                  "--cluster.listen-address=", "--log.level=debug"},
                 am->dir_ + "/alertmanager.log"));
  const absl::Time deadline = absl::Now() + ready_within;
  while (absl::Now() < deadline) {
    auto ready = host.exec({"curl", "-sf", "-m", "2", am->url("/-/ready")}, absl::Seconds(5));
    if (ready.ok() && ready->exit_code == 0) return am;
    if (!am->process_->running()) {
      return absl::InternalError("Alertmanager exited before it was ready: " + am->log());
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "Alertmanager not ready within ", absl::FormatDuration(ready_within), ": ", am->log()));
}

AlertmanagerPeer::~AlertmanagerPeer() { (void)stop(); }

std::string AlertmanagerPeer::url(const std::string& path) const {
  return absl::StrFormat("http://127.0.0.1:%d%s", port_, path);
}

absl::Status AlertmanagerPeer::post(const std::string& alerts_json) {
  WARDEN_ASSIGN_OR_RETURN(
      RunResult r,
      host_.exec({"curl", "-sS", "-m", "10", "-w", "\n%{http_code}", "-XPOST", "-H",
                  "Content-Type: application/json", "--data-binary", "@-", url("/api/v2/alerts")},
                 absl::Seconds(15), alerts_json));
  const CurlAnswer a = splitStatus(r.out);
  if (r.exit_code != 0 || a.status != 200) {
    return absl::InternalError(absl::StrFormat("POST /api/v2/alerts: curl exit %d, HTTP %d: %s%s",
                                               r.exit_code, a.status, a.body, r.err));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> AlertmanagerPeer::get(const std::string& path) {
  WARDEN_ASSIGN_OR_RETURN(RunResult r,
                          host_.exec({"curl", "-sS", "-m", "10", "-w", "\n%{http_code}", url(path)},
                                     absl::Seconds(15)));
  const CurlAnswer a = splitStatus(r.out);
  if (r.exit_code != 0 || a.status != 200) {
    return absl::InternalError(absl::StrFormat("GET %s: curl exit %d, HTTP %d: %s%s", path,
                                               r.exit_code, a.status, a.body, r.err));
  }
  return a.body;
}

absl::Status AlertmanagerPeer::stop() {
  if (!process_) return absl::OkStatus();
  absl::Status s;
  if (process_->running()) {
    s = process_->signal(SIGTERM);
    if (s.ok()) s = process_->wait(absl::Seconds(10)).status();
  }
  process_.reset();
  return s;
}

std::string AlertmanagerPeer::log() const {
  auto text = readFile(dir_ + "/alertmanager.log");
  if (!text.ok()) return "";
  constexpr std::size_t kTail = 32 * 1024;
  return text->size() <= kTail ? *text : "..." + text->substr(text->size() - kTail);
}

}  // namespace warden::testing
