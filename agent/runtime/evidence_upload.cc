#include "agent/runtime/evidence_upload.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/status.h"

namespace warden {
namespace {

struct AlignedBuffer {
  char* data = nullptr;
  std::size_t length = 0;  // valid bytes
  std::uint64_t offset = 0;
  std::vector<EvidenceReadError> errors;
  ~AlignedBuffer() { std::free(data); }
};

absl::Status fromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Sequential reads on a thread of their own, a few buffers ahead of the hasher and sender.
class ReadAhead {
 public:
  ReadAhead(EvidenceSource& source, std::uint64_t from, std::size_t read_size)
      : source_(source), next_(from), read_size_(read_size), thread_([this] { run(); }) {}
  ~ReadAhead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The next buffer; an empty one at the end. Errors end the stream.
  absl::StatusOr<std::unique_ptr<AlignedBuffer>> next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (!ready_.empty()) {
      auto b = std::move(ready_.front());
      ready_.pop_front();
      cv_.notify_all();
      return b;
    }
    if (!status_.ok()) return status_;
    return std::make_unique<AlignedBuffer>();
  }

 private:
  void run() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return ready_.size() < kDepth || stop_; });
        if (stop_) return;
      }
      auto b = std::make_unique<AlignedBuffer>();
      b->data = static_cast<char*>(std::aligned_alloc(source_.alignment(), read_size_));
      b->offset = next_;
      auto n = b->data == nullptr ? absl::StatusOr<std::size_t>(absl::ResourceExhaustedError(
                                        "cannot allocate a read buffer"))
                                  : source_.read(next_, b->data, read_size_, &b->errors);
      std::lock_guard<std::mutex> lock(mu_);
      if (!n.ok() || *n == 0) {
        status_ = n.status();
        done_ = true;
        cv_.notify_all();
        return;
      }
      b->length = *n;
      next_ += *n;
      ready_.push_back(std::move(b));
      // A short read is the end of the source (EvidenceSource::read): reading on would start
      // at an offset O_DIRECT cannot take.
      if (*n < read_size_) done_ = true;
      cv_.notify_all();
      if (done_) return;
    }
  }

  static constexpr std::size_t kDepth = 3;
  EvidenceSource& source_;
  std::uint64_t next_;
  const std::size_t read_size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<AlignedBuffer>> ready_;
  bool done_ = false;
  bool stop_ = false;
  absl::Status status_;
  std::thread thread_;  // last: starts after everything it uses
};

std::string manifestJson(const EvidenceSourceFacts& f, const UploadOptions& o,
                         const std::string& command_id, const std::string& evidence_id,
                         std::int64_t started_ms, std::int64_t finished_ms,
                         const UploadOutcome& out) {
  Json errors = Json::array();
  for (const auto& e : out.read_errors) {
    errors.push_back({{"offset", e.offset}, {"length", e.length}, {"errno", e.error}});
  }
  Json j;
  j["schema"] = "warden-evidence-manifest/1";
  j["evidence_id"] = evidence_id;
  j["action_id"] = command_id;
  j["host_id"] = o.host_id;
  j["requested_by"] = o.requested_by;
  j["agent_version"] = o.agent_version;
  j["source"] = {{"path", f.requested_path},
                 {"resolved_path", f.resolved_path},
                 {"kind", f.kind},
                 {"major", f.major},
                 {"minor", f.minor},
                 {"size_bytes", f.size_bytes},
                 {"logical_sector_size", f.logical_sector_size},
                 {"physical_sector_size", f.physical_sector_size},
                 {"model", f.model},
                 {"vendor", f.vendor},
                 {"serial", f.serial}};
  j["acquisition"] = {{"started_unix_ms", started_ms},   {"finished_unix_ms", finished_ms},
                      {"read_method", f.read_method},    {"chunk_size", o.chunk_size},
                      {"bytes_read", out.size},          {"resumed_from", out.resumed_from},
                      {"read_errors", std::move(errors)}};
  j["sha256"] = crypto::hex(out.sha256);
  // ", " and ": " between items, as the evidence manifest has always been written: its bytes
  // are what the agent signs, and people read it as text beside the image.
  return dumpJson(j, JsonLayout::spacedLine());
}

// A string field of a parsed manifest; "" when it is missing or not a string.
std::string textField(const Json& manifest, const char* key) {
  if (!manifest.is_object()) return "";
  const auto it = manifest.find(key);
  return it != manifest.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<UploadOutcome> uploadEvidence(v1::AgentChannel::StubInterface& stub,
                                             EvidenceSource& source, const std::string& command_id,
                                             const std::string& evidence_id,
                                             const crypto::Ed25519Key& key,
                                             const UploadOptions& options) {
  const std::int64_t started_ms = nowUnixMs();
  const std::uint64_t total = source.facts().size_bytes;
  UploadOutcome out;
  v1::UploadRef ref;
  ref.set_command_id(command_id);
  ref.set_evidence_id(evidence_id);
  v1::UploadState state;
  // After a crash the controller may still be winding up the broken stream: it says so with
  // FAILED_PRECONDITION for a little while.
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    const grpc::Status s = stub.GetUploadState(&ctx, ref, &state);
    if (s.ok()) break;
    if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION || attempt >= 120 ||
        (options.cancel != nullptr && options.cancel->load())) {
      return fromGrpc(s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (state.complete()) {
    // Stored before (this agent stopped before its receipt). The controller hands back the
    // manifest this agent signed: its signature and content stand for what was read, with no
    // second pass over the source (which a live disk would not repeat byte for byte).
    WARDEN_RETURN_IF_ERROR(
        crypto::ed25519Verify(key.publicKey(), state.manifest(), state.manifest_signature()));
    const absl::StatusOr<Json> n = parseJson(state.manifest(), "it");
    if (!n.ok()) {
      return absl::DataLossError(
          absl::StrFormat("the stored manifest does not parse: %s", n.status().message()));
    }
    const std::string named = textField(*n, "sha256");
    const std::string id = textField(*n, "evidence_id");
    if (id != evidence_id || named != crypto::hex(state.sha256()) ||
        crypto::sha256(state.manifest()) != state.manifest_sha256()) {
      return absl::DataLossError(absl::StrFormat(
          "the controller holds %s complete, but its manifest does not match it", evidence_id));
    }
    out.complete = true;
    out.size = state.size();
    out.sha256 = state.sha256();
    out.controller_sha256 = state.sha256();
    out.manifest = state.manifest();
    out.manifest_sha256 = state.manifest_sha256();
    out.immutable = state.immutable();
    out.resumed_from = state.size();
    return out;
  }
  if (state.offset() > total || state.offset() % source.alignment() != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the controller holds %d bytes of %s, which does not fit a %d-byte source",
                        state.offset(), evidence_id, total));
  }
  out.resumed_from = state.offset();
  crypto::Sha256 hash;
  // Re-read what the controller holds without sending it: the same bytes, or stop.
  {
    ReadAhead prefix(source, 0, options.read_size);
    std::uint64_t done = 0;
    while (done < state.offset()) {
      WARDEN_ASSIGN_OR_RETURN(auto b, prefix.next());
      if (b->length == 0) return absl::DataLossError("the source ended before the resume point");
      const std::size_t use =
          static_cast<std::size_t>(std::min<std::uint64_t>(b->length, state.offset() - done));
      hash.update(std::string_view(b->data, use));
      out.read_errors.insert(out.read_errors.end(), b->errors.begin(), b->errors.end());
      done += use;
    }
    if (hash.digestSoFar() != state.prefix_sha256()) {
      return absl::DataLossError(absl::StrFormat(
          "%s changed since the transfer began: its first %d bytes no longer hash to what the "
          "controller holds",
          source.facts().requested_path, state.offset()));
    }
  }
  grpc::ClientContext ctx;
  v1::UploadResult result;
  auto writer = stub.UploadEvidence(&ctx, &result);
  ReadAhead reads(source, state.offset(), options.read_size);
  std::uint64_t sent = state.offset();
  const auto start = std::chrono::steady_clock::now();
  bool stream_ok = true;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(auto b, reads.next());
    if (b->length == 0) break;
    hash.update(std::string_view(b->data, b->length));
    out.read_errors.insert(out.read_errors.end(), b->errors.begin(), b->errors.end());
    if (options.cancel != nullptr && options.cancel->load()) {
      ctx.TryCancel();
      (void)writer->Finish();
      return absl::CancelledError(
          absl::StrFormat("stopped at %d of %d bytes; the transfer resumes there", sent, total));
    }
    for (std::size_t at = 0; at < b->length && stream_ok; at += options.chunk_size) {
      const std::size_t n = std::min(options.chunk_size, b->length - at);
      v1::EvidenceChunk m;
      m.set_command_id(command_id);
      m.set_evidence_id(evidence_id);
      m.set_offset(b->offset + at);
      m.set_data(b->data + at, n);
      m.set_sha256(crypto::sha256(m.data()));
      m.set_source_size(total);
      stream_ok = writer->Write(m);
      sent += n;
      if (options.rate_bytes_per_second > 0) {
        // Token bucket over the whole transfer: never ahead of the rate.
        const auto due =
            start + std::chrono::duration<double>(static_cast<double>(sent - state.offset()) /
                                                  options.rate_bytes_per_second);
        std::this_thread::sleep_until(
            std::chrono::time_point_cast<std::chrono::steady_clock::duration>(due));
      }
      if (options.progress) options.progress(sent, total);
    }
    if (!stream_ok) break;
  }
  out.size = sent;
  out.sha256 = hash.finish();
  if (stream_ok) {
    out.manifest = manifestJson(source.facts(), options, command_id, evidence_id, started_ms,
                                nowUnixMs(), out);
    WARDEN_ASSIGN_OR_RETURN(std::string signature, key.sign(out.manifest));
    v1::EvidenceChunk last;
    last.set_command_id(command_id);
    last.set_evidence_id(evidence_id);
    last.set_offset(sent);
    last.set_last(true);
    last.set_total_size(out.size);
    last.set_total_sha256(out.sha256);
    last.set_manifest(out.manifest);
    last.set_manifest_signature(signature);
    last.set_source_size(total);
    stream_ok = writer->Write(last);
    if (stream_ok) writer->WritesDone();
  }
  // The controller's answer decides, whatever Write said (gRPC: act on Finish()).
  const grpc::Status s = writer->Finish();
  if (!s.ok()) return fromGrpc(s);
  out.complete = result.complete();
  out.manifest_sha256 = crypto::sha256(out.manifest);
  out.controller_sha256 = result.sha256();
  out.immutable = result.immutable();
  if (!out.complete) return absl::AbortedError("the controller did not complete the evidence");
  if (out.controller_sha256 != out.sha256) {
    return absl::DataLossError("the controller stored different bytes than the agent read");
  }
  return out;
}

}  // namespace warden
