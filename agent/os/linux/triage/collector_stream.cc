#include "agent/os/linux/triage/collector_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::size_t kDataPiece = 512u << 10;  // well inside kMaxCollectorMessage

}  // namespace

absl::Status CollectorStream::send(const v1::CollectorMessage& m) {
  if (!status_.ok()) return status_;
  const std::string bytes = frameMessage(m);
  std::string_view left = bytes;
  while (!left.empty()) {
    const ssize_t w = ::write(out_, left.data(), left.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      status_ = errnoStatus(w == 0 ? EPIPE : errno, "Failed to write to the agent");
      return status_;
    }
    left.remove_prefix(static_cast<std::size_t>(w));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CollectorMessage> CollectorStream::receive() {
  char buf[65536];
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(std::optional<v1::CollectorMessage> m, reader_.next());
    if (m) return std::move(*m);
    const ssize_t n = ::read(in_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoStatus(errno, "Failed to read from the agent");
    if (n == 0) return absl::UnavailableError("the agent closed the collector's stream");
    reader_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

absl::Status CollectorStream::begin(const TarEntry& e) {
  v1::CollectorMessage m;
  *m.mutable_entry() = entryToWire(e);
  return send(m);
}

absl::Status CollectorStream::data(std::string_view d) {
  while (!d.empty()) {
    const std::size_t n = std::min(d.size(), kDataPiece);
    v1::CollectorMessage m;
    m.set_data(std::string(d.substr(0, n)));
    WARDEN_RETURN_IF_ERROR(send(m));
    d.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status CollectorStream::end() {
  v1::CollectorMessage m;
  m.set_entry_end(true);
  return send(m);
}

absl::Status CollectorStream::member(const TriageMember& member) {
  v1::CollectorMessage m;
  *m.mutable_member() = memberToWire(member);
  return send(m);
}

absl::Status CollectorStream::limitHit(std::string_view line) {
  v1::CollectorMessage m;
  m.set_limit_hit(std::string(line.substr(0, kMaxErrorString)));
  return send(m);
}

absl::Status CollectorStream::identity(std::string_view hostname, std::string_view boot_id) {
  v1::CollectorMessage m;
  m.mutable_identity()->set_hostname(std::string(hostname.substr(0, kMaxHostString)));
  m.mutable_identity()->set_boot_id(std::string(boot_id.substr(0, kMaxHostString)));
  return send(m);
}

absl::Status CollectorStream::sandbox(const v1::CollectorSandbox& s) {
  v1::CollectorMessage m;
  *m.mutable_sandbox() = s;
  return send(m);
}

absl::StatusOr<v1::CollectorStepDone> CollectorStream::step(CollectorStep s) {
  v1::CollectorMessage m;
  m.set_step(s);
  WARDEN_RETURN_IF_ERROR(send(m));
  WARDEN_ASSIGN_OR_RETURN(v1::CollectorMessage answer, receive());
  if (!answer.has_step_done()) {
    return absl::InternalError(
        absl::StrFormat("the agent answered step %d with something else", s));
  }
  return answer.step_done();
}

absl::Status CollectorStream::finish(std::uint64_t over_member_limit) {
  v1::CollectorMessage m;
  m.mutable_end()->set_over_member_limit(over_member_limit);
  return send(m);
}

}  // namespace warden::triage
