// `warden image` and `warden collect`: evidence streamed to the controller's evidence store
// (evidence_upload.h), retried within the action's own expiry, resumed where it stopped.
#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/runtime/agent.h"
#include "common/crypto/encoding.h"
#include "common/log.h"
#include "common/net.h"

namespace warden {
namespace {

// Upload failures worth another attempt: the controller restarted, the stream broke, or it is
// busy. Anything else (a full evidence disk, a changed source, a refusal) is final.
bool retryableUpload(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
      return true;
    case absl::StatusCode::kFailedPrecondition:
      return absl::StrContains(s.message(), "resume there");
    default:
      return false;
  }
}

}  // namespace

UploadOptions Agent::uploadOptions(const Command& cmd, double rate_mb) {
  UploadOptions o;
  o.cancel = &stopping_;
  o.rate_bytes_per_second = rate_mb * 1e6;
  o.host_id = trust_.host_id;
  o.requested_by = cmd.requested_by;
  o.agent_version = kAgentVersion;
  return o;
}

// What the receipt says of one stored item: "<evidence id>.<key>" details (`k` is the prefix).
void Agent::noteUpload(const UploadOutcome& up, const std::string& k, ActionOutcome& out) {
  out.details[k + "sha256"] = crypto::hex(up.sha256);
  out.details[k + "controller_sha256"] = crypto::hex(up.controller_sha256);
  out.details[k + "manifest_sha256"] = crypto::hex(up.manifest_sha256);
  out.details[k + "immutable"] = up.immutable ? "yes" : "no";
  out.details[k + "resumed_from"] = std::to_string(up.resumed_from);
}

// Image (or collect) actions upload one evidence item per source: "<command id>-<n>", n from 1
// in a fixed order (named devices, then the whole disks sorted), so a restarted agent resumes
// each item under the same id. The receipt names every item with "<evidence id>.<key>" details.
ActionOutcome Agent::imageDevice(const Command& cmd) {
  ActionOutcome out;
  std::vector<std::string> devices;
  bool all_disks = false;
  double rate_mb = 0;
  for (const auto& a : cmd.args) {
    if (a.rfind("device=", 0) == 0) devices.push_back(a.substr(7));
    if (a == "all_disks=yes") all_disks = true;
    if (a.rfind("rate=", 0) == 0) rate_mb = std::atof(a.c_str() + 5);
  }
  if (all_disks && parts_.list_disks) {
    auto disks = parts_.list_disks();
    if (!disks.ok()) {
      out.message = absl::StrFormat("listing the disks: %s", disks.status().message());
      return out;
    }
    for (const auto& d : *disks) {
      if (std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
    }
    if (disks->empty() && devices.empty()) {
      return invalidArgument(
          "--all-disks: this host has no whole disk (loop, ram and zram devices are "
          "imaged only when named)");
    }
  }
  if (devices.empty() || !parts_.open_evidence) {
    return invalidArgument(devices.empty() ? "no device named"
                                           : "imaging is not available on this agent");
  }
  if (devices.size() > 64) {
    return invalidArgument(
        absl::StrFormat("%d devices: one action images at most 64", devices.size()));
  }
  // Every source is opened first: a typo fails the action before anything is sent.
  std::vector<std::unique_ptr<EvidenceSource>> sources;
  for (const auto& device : devices) {
    auto source = parts_.open_evidence(device);
    if (!source.ok()) {
      std::string message(source.status().message());
      if (source.status().code() == absl::StatusCode::kInvalidArgument ||
          source.status().code() == absl::StatusCode::kNotFound) {
        return invalidArgument(std::move(message));
      }
      return failure(std::move(message));
    }
    sources.push_back(std::move(*source));
  }
  const UploadOptions options = uploadOptions(cmd, rate_mb);
  std::vector<std::string> ids, failures, unreadable;
  std::uint64_t total_bytes = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const std::string evidence_id = absl::StrFormat("%s-%d", cmd.id, i + 1);
    ids.push_back(evidence_id);
    const EvidenceSourceFacts& f = sources[i]->facts();
    const std::string k = evidence_id + ".";
    out.details[k + "device"] = f.resolved_path;
    out.details[k + "device_kind"] = f.kind;
    out.details[k + "size_bytes"] = std::to_string(f.size_bytes);
    out.details[k + "read_method"] = f.read_method;
    auto up = uploadWithRetry(*sources[i], cmd.id, evidence_id, cmd.expires_unix_ms, options);
    if (!up.ok()) {
      if (up.status().code() == absl::StatusCode::kCancelled) {
        out.details["cancelled"] = "yes";
        return out;
      }
      out.details[k + "error"] = std::string(up.status().message());
      failures.push_back(absl::StrFormat("%s: %s", devices[i], up.status().message()));
      continue;
    }
    noteUpload(*up, k, out);
    out.details[k + "read_errors"] = std::to_string(up->read_errors.size());
    std::uint64_t zeroed = 0;
    for (const auto& e : up->read_errors) zeroed += e.length;
    out.details[k + "zero_filled_bytes"] = std::to_string(zeroed);
    if (!up->read_errors.empty()) {
      unreadable.push_back(absl::StrFormat(
          "%s: %d unreadable range(s), %d bytes replaced by zeros (listed in the manifest)",
          devices[i], up->read_errors.size(), zeroed));
    }
    total_bytes += up->size;
  }
  out.details["evidence_ids"] = absl::StrJoin(ids, ",");
  if (!failures.empty()) {
    out.message = absl::StrFormat("imaging failed: %s", absl::StrJoin(failures, "; "));
    return out;
  }
  out.ok = true;
  out.message = sources.size() == 1
                    ? absl::StrFormat("imaged %s: %d bytes, sha256 %s", devices[0], total_bytes,
                                      out.details[ids[0] + ".sha256"])
                    : absl::StrFormat("imaged %d devices: %d bytes", sources.size(), total_bytes);
  if (!unreadable.empty()) absl::StrAppend(&out.message, "; ", absl::StrJoin(unreadable, "; "));
  return out;
}

std::string Agent::collectPath(const std::string& command_id) const {
  return options_.state_dir + "/collect/" + command_id + ".tar.zst";
}

// `warden collect`: the triage bundle (agent/os/triage.h) is written once to the state
// directory and uploaded like an image, as evidence "<command id>-1". It stays until the
// receipt is stored, so an agent restarted part way resumes the upload of the same bytes; a
// bundle whose writing was interrupted is thrown away and written again.
ActionOutcome Agent::collectTriage(const Command& cmd) {
  ActionOutcome out;
  if (!parts_.build_triage || !parts_.open_evidence) {
    out.message = "triage collection is not available on this agent";
    return out;
  }
  TriageOptions options;
  double rate_mb = 0;
  for (const auto& a : cmd.args) {
    const double v = std::atof(a.c_str() + a.find('=') + 1);
    if (a.rfind("rate=", 0) == 0) rate_mb = v;
    if (a.rfind("max_member_mb=", 0) == 0) options.limits.max_member_bytes = v * 1e6;
    if (a.rfind("max_total_mb=", 0) == 0) options.limits.max_total_bytes = v * 1e6;
  }
  const std::string path = collectPath(cmd.id);
  const std::string evidence_id = cmd.id + "-1";
  const std::string k = evidence_id + ".";
  out.details["evidence_ids"] = evidence_id;
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir + "/collect", ec);
  if (!std::filesystem::exists(path, ec)) {
    const std::string partial = path + ".partial";
    (void)std::remove(partial.c_str());
    auto built = parts_.build_triage(partial, options);
    if (!built.ok()) {
      out.message = absl::StrFormat("collecting: %s", built.status().message());
      return out;
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
      out.message = absl::StrFormat("collecting: renaming %s: %s", partial, std::strerror(errno));
      return out;
    }
    out.details[k + "members"] = std::to_string(built->members.size());
    out.details[k + "content_bytes"] = std::to_string(built->content_bytes);
    out.details[k + "limits_hit"] = std::to_string(built->limits_hit.size());
    if (!built->limits_hit.empty()) {
      std::string first = built->limits_hit.front();
      if (built->limits_hit.size() > 1) {
        first += absl::StrFormat(" (and %d more; see MANIFEST.json)", built->limits_hit.size() - 1);
      }
      out.details[k + "limit_first"] = first;
    }
    out.details[k + "triage_manifest_sha256"] = crypto::hex(crypto::sha256(built->manifest_json));
    if (!built->collector.empty()) out.details[k + "collector"] = built->collector;
    if (!built->collector_error.empty())
      out.details[k + "collector_error"] = built->collector_error;
  }
  auto source = parts_.open_evidence(path);
  if (!source.ok()) {
    out.message = absl::StrFormat("opening the bundle: %s", source.status().message());
    return out;
  }
  out.details[k + "device"] = path;
  out.details[k + "device_kind"] = "triage bundle (tar+zstd)";
  out.details[k + "size_bytes"] = std::to_string((*source)->facts().size_bytes);
  auto up = uploadWithRetry(**source, cmd.id, evidence_id, cmd.expires_unix_ms,
                            uploadOptions(cmd, rate_mb));
  if (!up.ok()) {
    if (up.status().code() == absl::StatusCode::kCancelled) out.details["cancelled"] = "yes";
    out.message = absl::StrFormat("uploading the triage bundle: %s", up.status().message());
    return out;
  }
  noteUpload(*up, k, out);
  auto members = out.details.find(k + "members");
  const std::string of = members == out.details.end() ? "" : " of " + members->second + " members";
  // A collector that died part way leaves a bundle worth keeping (stored all the same), but the
  // collection failed: the action says so.
  if (auto failed = out.details.find(k + "collector_error"); failed != out.details.end()) {
    out.message =
        absl::StrFormat("collected a partial triage bundle%s (evidence %s, sha256 %s): %s", of,
                        evidence_id, crypto::hex(up->sha256), failed->second);
    return out;
  }
  out.ok = true;
  out.message = absl::StrFormat("collected a triage bundle%s: %d bytes, sha256 %s", of, up->size,
                                crypto::hex(up->sha256));
  return out;
}

absl::StatusOr<UploadOutcome> Agent::uploadWithRetry(EvidenceSource& source,
                                                     const std::string& command_id,
                                                     const std::string& evidence_id,
                                                     std::int64_t expires_unix_ms,
                                                     const UploadOptions& options) {
  // Bounded by the action's own expiry (a busy controller may take hours to free a slot), with
  // a back-off up to 15 s between attempts.
  absl::Status last;
  for (int attempt = 0; nowUnixMs() < expires_unix_ms; ++attempt) {
    if (attempt > 0) {
      const auto pause = std::chrono::milliseconds(std::min(15000, 500 << std::min(attempt, 5)));
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, pause, [&] { return stopping_.load(); })) break;
    }
    auto channel = makeChannel(true);
    if (!channel.ok()) return channel.status();
    auto stub = v1::AgentChannel::NewStub(*channel);
    auto up = uploadEvidence(*stub, source, command_id, evidence_id, receipt_key_, options);
    if (up.ok() || !retryableUpload(up.status())) return up;
    last = up.status();
    logWarning("host %s: evidence %s: %s; trying again", trust_.host_id, evidence_id,
               last.message());
  }
  if (stopping_) return absl::CancelledError("the agent is stopping; the transfer resumes later");
  if (last.ok()) return absl::DeadlineExceededError("the action expired before the upload began");
  return absl::DeadlineExceededError(
      absl::StrFormat("the action expired before the upload completed: %s", last.message()));
}

}  // namespace warden
