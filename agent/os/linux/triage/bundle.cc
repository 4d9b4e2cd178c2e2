#include "agent/os/linux/triage/bundle.h"

#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::uint64_t kMinGeneratedCap = 64;  // below this a JSON table is not started

}  // namespace

TarEntry tarEntryFor(const TriageMember& m, char type, std::uint64_t size) {
  return TarEntry{m.name, type,         m.mode, m.uid, m.gid, absl::ToUnixSeconds(m.mtime),
                  size,   m.link_target};
}

Bundle::Bundle(const TriageOptions& options, std::string out_path)
    : options_(options), limits_(options.limits), out_path_(std::move(out_path)) {
  const std::size_t slash = out_path_.rfind('/');
  out_dir_ = slash == std::string::npos ? "." : out_path_.substr(0, slash + 1);
}

Bundle::Bundle(const TriageOptions& options, CollectorStream& stream)
    : options_(options),
      limits_(options.limits),
      out_path_("the collector's stream"),
      stream_(&stream) {}

absl::Status Bundle::create() {
  now_ = absl::Now();
  timespec real{}, boot{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_BOOTTIME, &boot);
  boot_time_ = absl::TimeFromTimespec(real) - absl::DurationFromTimespec(boot);
  return stream_ != nullptr ? absl::OkStatus() : file_.create(out_path_);
}

std::vector<char>& Bundle::buffer() {
  buffer_.resize(kPiece);
  return buffer_;
}

void Bundle::identify(std::string hostname, std::string boot_id) {
  if (stream_ != nullptr) (void)stream_->identity(hostname, boot_id);  // failures stick
  hostname_ = std::move(hostname);
  boot_id_ = std::move(boot_id);
}

void Bundle::noteLimit(std::string line) {
  if (stream_ != nullptr) (void)stream_->limitHit(line);
  limits_hit_.push_back(std::move(line));
}

void Bundle::noteCut(const TriageMember& m, std::uint64_t of, const char* limit) {
  noteLimit(absl::StrFormat("%s truncated at %d of %d bytes (%s)", m.name, m.size, of, limit));
}

bool Bundle::admit(const std::string& name) {
  if (names_.contains(name)) return false;
  if (members_.size() + other_members_ >= limits_.max_members) {
    ++over_member_limit_;
    return false;
  }
  if (member_text_ >= max_member_text_) {
    if (over_text_limit_++ == 0) {
      noteLimit(absl::StrFormat(
          "the members' names, sources and errors reached %d bytes: further sources are neither "
          "collected nor listed",
          max_member_text_));
    }
    return false;
  }
  return true;
}

std::string Bundle::conflictFor(const std::string& name, bool directory) const {
  for (std::size_t pos = name.find('/'); pos != std::string::npos && pos + 1 < name.size();
       pos = name.find('/', pos + 1)) {
    if (leaves_.contains(name.substr(0, pos))) return name.substr(0, pos);
  }
  if (!directory) {
    const std::string below = name + "/";
    auto it = archived_.lower_bound(below);
    if (it != archived_.end() && absl::StartsWith(*it, below)) return *it;
  }
  return "";
}

void Bundle::list(TriageMember m) {
  member_text_ += m.name.size() + m.source.size() + m.error.size() + m.link_target.size();
  if (stream_ != nullptr) (void)stream_->member(m);
  names_.insert(m.name);
  if (m.archived) {
    archived_.insert(m.name);
    if (m.type != "directory") leaves_.insert(m.name);
  }
  members_.push_back(std::move(m));
}

TriageMember Bundle::outputMember(const std::string& name, const std::string& source) const {
  TriageMember m;
  m.name = name;
  m.type = "output";
  m.source = source;
  m.mode = 0444;
  m.mtime = now_;
  m.ctime = now_;
  return m;
}

void Bundle::listUncollected(TriageMember m, std::string error) {
  if (error == kTotalLimitError) ++over_total_limit_;
  m.error = std::move(error);
  list(std::move(m));
}

absl::StatusOr<Spool> Bundle::newSpool(const std::string& member, std::uint64_t cap) {
  return Spool::create(out_dir_, cap, absl::StrCat(out_path_, " (scratch space for ", member, ")"));
}

absl::Status Bundle::archiveSpool(TriageMember m, Spool& spool) {
  WARDEN_RETURN_IF_ERROR(spool.status());
  m.size = spool.size();
  BundleOutput& out = writer();
  WARDEN_RETURN_IF_ERROR(out.begin(tarEntryFor(m, '0', m.size)));
  crypto::Sha256 h;
  std::uint64_t off = 0;
  std::vector<char>& buf = buffer();
  while (off < m.size) {
    const ssize_t n = ::pread(spool.fd(), buf.data(), std::min<std::uint64_t>(kPiece, m.size - off),
                              static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return errnoStatus("read", absl::StrCat(out_path_, " (scratch space)"), n == 0 ? EIO : errno);
    }
    const std::string_view piece(buf.data(), static_cast<std::size_t>(n));
    h.update(piece);
    WARDEN_RETURN_IF_ERROR(out.data(piece));
    off += static_cast<std::uint64_t>(n);
  }
  WARDEN_RETURN_IF_ERROR(out.end());
  m.sha256 = crypto::hex(h.finish());
  m.archived = true;
  total_ += m.size;
  list(std::move(m));
  return absl::OkStatus();
}

absl::Status Bundle::archiveOutput(TriageMember m, Spool& spool, std::uint64_t produced,
                                   const char* limit) {
  m.truncated = spool.overflowed();
  m.source_size = produced;
  const std::string name = m.name;
  WARDEN_RETURN_IF_ERROR(archiveSpool(std::move(m), spool));
  if (spool.overflowed()) {
    noteLimit(produced > spool.size()
                  ? absl::StrFormat("%s truncated at %d of %d bytes (%s)", name, spool.size(),
                                    produced, limit)
                  : absl::StrFormat("%s truncated at %d bytes (%s); there was more", name,
                                    spool.size(), limit));
  }
  return absl::OkStatus();
}

absl::Status Bundle::addJsonTable(const std::string& name, const std::string& source,
                                  const std::string& what,
                                  const std::function<std::size_t(const AddRecord&)>& fill) {
  if (!admit(name)) return absl::OkStatus();
  TriageMember m = outputMember(name, source);
  const std::uint64_t cap = capNow();
  const char* limit = capName();
  if (cap < kMinGeneratedCap) {
    listUncollected(std::move(m), remaining() < kMinGeneratedCap
                                      ? kTotalLimitError
                                      : "not collected: max_member_bytes is too small");
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(Spool spool, newSpool(name, cap));
  spool.append("[");
  std::size_t listed = 0;
  bool full = false;
  const std::size_t all = fill([&](const Json& record) {
    if (full) return false;
    if (!spool.append(absl::StrCat(listed == 0 ? "\n" : ",\n", dumpJson(record)), 3)) {
      full = true;
      return false;
    }
    ++listed;
    return true;
  });
  spool.append("\n]\n");
  WARDEN_RETURN_IF_ERROR(spool.status());
  if (listed < all) {
    // The JSON stays valid but does not hold all there was: truncated, and said why.
    noteLimit(absl::StrFormat("%s lists %d of %d %s (%s)", name, listed, all, what, limit));
    m.error = absl::StrFormat("%d of %d %s left out: %s reached", all - listed, all, what, limit);
    m.truncated = true;
  } else {
    m.source_size = spool.size();
  }
  return archiveSpool(std::move(m), spool);
}

absl::StatusOr<TriageResult> Bundle::finish() {
  if (stream_ != nullptr) {
    // The summary lines are the agent's to write: it counts what it was sent.
    WARDEN_RETURN_IF_ERROR(stream_->finish(over_member_limit_));
    TriageResult result;
    result.content_bytes = total_;
    return result;
  }
  if (over_total_limit_ > 0) {
    limits_hit_.push_back(
        absl::StrFormat("max_total_bytes (%d) reached: %d sources listed but not collected",
                        limits_.max_total_bytes, over_total_limit_));
  }
  if (over_member_limit_ > 0) {
    limits_hit_.push_back(
        absl::StrFormat("max_members (%d) reached: %d further sources neither collected nor listed",
                        limits_.max_members, over_member_limit_));
  }
  TriageResult result;
  result.manifest_json = manifest(absl::Now());
  const TriageMember m = outputMember("MANIFEST.json", "warden triage");
  WARDEN_RETURN_IF_ERROR(
      file_.begin(tarEntryFor(m, '0', static_cast<std::uint64_t>(result.manifest_json.size()))));
  WARDEN_RETURN_IF_ERROR(file_.data(result.manifest_json));
  WARDEN_RETURN_IF_ERROR(file_.end());
  WARDEN_ASSIGN_OR_RETURN(result.bundle_bytes, file_.finish());
  result.members = std::move(members_);
  result.content_bytes = total_;
  result.limits_hit = std::move(limits_hit_);
  return result;
}

}  // namespace warden::triage
