#include "agent/os/linux/triage/collector_intake.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxLimitLines = 1000;
constexpr std::size_t kMaxIdentity = 255;

absl::Status violation(const std::string& what) { return protocolViolation(what); }

const char* memberType(char tar_type) {
  switch (tar_type) {
    case '1':
      return "hardlink";
    case '2':
      return "symlink";
    case '5':
      return "directory";
    default:
      return "file";
  }
}

}  // namespace

absl::StatusOr<CollectorIntake::Request> CollectorIntake::take(const v1::CollectorMessage& m) {
  ++messages_;
  if (ended_) return violation("a message after the end");
  Request request;
  switch (m.body_case()) {
    case v1::CollectorMessage::kEntry:
      WARDEN_RETURN_IF_ERROR(beginEntry(m.entry()));
      break;
    case v1::CollectorMessage::kData:
      WARDEN_RETURN_IF_ERROR(entryData(m.data()));
      break;
    case v1::CollectorMessage::kEntryEnd:
      WARDEN_RETURN_IF_ERROR(endEntry());
      break;
    case v1::CollectorMessage::kMember:
      WARDEN_RETURN_IF_ERROR(listMember(m.member()));
      break;
    case v1::CollectorMessage::kLimitHit:
      if (state_ != State::kIdle) return violation("a limit line inside an entry");
      // More lines than any collection makes: the rest are dropped, not trusted to be few.
      if (limit_lines_++ < kMaxLimitLines) {
        bundle_.noteLimit(m.limit_hit().substr(0, kMaxErrorString));
      }
      break;
    case v1::CollectorMessage::kIdentity:
      if (identified_) return violation("a second identity");
      identified_ = true;
      bundle_.identify(m.identity().hostname().substr(0, kMaxIdentity),
                       m.identity().boot_id().substr(0, kMaxIdentity));
      break;
    case v1::CollectorMessage::kSandbox:
      if (sandbox_) return violation("a second sandbox report");
      if (m.sandbox().ByteSizeLong() > (256u << 10)) return violation("a sandbox report too large");
      sandbox_ = m.sandbox();
      break;
    case v1::CollectorMessage::kStep:
      if (state_ != State::kIdle) return violation("a step inside an entry");
      if (m.step() >= kStepCount || m.step() < next_step_) {
        return violation(absl::StrFormat("step %d out of order", m.step()));
      }
      next_step_ = m.step() + 1;
      request.step = static_cast<CollectorStep>(m.step());
      break;
    case v1::CollectorMessage::kEnd:
      if (state_ != State::kIdle) return violation("the end inside an entry");
      ended_ = true;
      bundle_.countUnlisted(static_cast<std::size_t>(
          std::min<std::uint64_t>(m.end().over_member_limit(), std::uint64_t{1} << 32)));
      request.end = true;
      break;
    default:
      return violation("a message the collector does not send");
  }
  return request;
}

absl::Status CollectorIntake::beginEntry(const v1::CollectorEntry& w) {
  if (state_ != State::kIdle) return violation("an entry inside an entry");
  WARDEN_ASSIGN_OR_RETURN(TarEntry e, entryFromWire(w));
  if (bundle_.listed(e.name)) return violation(absl::StrCat(shownName(e.name), " twice"));
  if (const std::string in_way = bundle_.conflictFor(e.name, e.type == '5'); !in_way.empty()) {
    return violation(
        absl::StrCat(shownName(e.name), " clashes with the archived ", shownName(in_way)));
  }
  if (e.type == '1' && !bundle_.archived(e.link)) {
    return violation(absl::StrCat("hard link ", shownName(e.name), " to ", shownName(e.link),
                                  ", which is not archived"));
  }
  if (e.size > bundle_.capNow()) {
    return violation(absl::StrFormat("%s of %d bytes, past what the limits leave (%d)",
                                     shownName(e.name), e.size, bundle_.capNow()));
  }
  if (!bundle_.admit(e.name)) {
    return violation(absl::StrFormat("%s past max_members (%d)", shownName(e.name),
                                     bundle_.limits().max_members));
  }
  WARDEN_RETURN_IF_ERROR(bundle_.writer().begin(e));
  entry_ = std::move(e);
  received_ = 0;
  state_ = State::kEntry;
  return absl::OkStatus();
}

absl::Status CollectorIntake::entryData(const std::string& d) {
  if (state_ != State::kEntry) return violation("data outside an entry");
  if (d.size() > entry_.size - received_) {
    return violation(
        absl::StrFormat("%s: more than its %d bytes", shownName(entry_.name), entry_.size));
  }
  hash_.update(d);
  received_ += d.size();
  return bundle_.writer().data(d);
}

absl::Status CollectorIntake::endEntry() {
  if (state_ != State::kEntry) return violation("the end of an entry outside one");
  if (received_ != entry_.size) {
    return violation(absl::StrFormat("%s ended after %d of its %d bytes", shownName(entry_.name),
                                     received_, entry_.size));
  }
  WARDEN_RETURN_IF_ERROR(bundle_.writer().end());
  entry_sha256_ = crypto::hex(hash_.finish());
  state_ = State::kDescribe;
  return absl::OkStatus();
}

absl::Status CollectorIntake::listMember(const v1::CollectorMember& w) {
  if (state_ == State::kEntry) return violation("a member inside an entry");
  WARDEN_ASSIGN_OR_RETURN(TriageMember m, memberFromWire(w));
  // As the collector's Bundle counts them (an archived member's link target is its entry's).
  metadata_bytes_ += m.name.size() + m.source.size() + m.error.size() +
                     (state_ == State::kDescribe ? entry_.link.size() : m.link_target.size());
  if (metadata_bytes_ > kMaxCollectorMetadataBytes) {
    return violation(absl::StrCat("the members' names, sources and errors pass ",
                                  kMaxCollectorMetadataBytes, " bytes"));
  }
  if (state_ == State::kDescribe) {
    const bool type_ok = entry_.type == '0' ? m.type == "file" || m.type == "output"
                                            : m.type == memberType(entry_.type);
    if (m.name != entry_.name || !m.archived || !type_ok) {
      return violation(
          absl::StrCat("the member after ", shownName(entry_.name), " is not its own"));
    }
    m.size = entry_.size;
    m.sha256 = entry_.type == '0' ? entry_sha256_ : "";
    m.link_target = entry_.link;
    bundle_.countContent(m.size);
    state_ = State::kIdle;
    last_member_ = m.name;
    bundle_.list(std::move(m));
    return absl::OkStatus();
  }
  if (m.archived)
    return violation(absl::StrCat(shownName(m.name), " claims an entry it never sent"));
  if (!bundle_.admit(m.name)) {
    return violation(
        absl::StrCat(shownName(m.name), bundle_.listed(m.name) ? " twice" : " past max_members"));
  }
  m.size = 0;
  m.sha256.clear();
  last_member_ = m.name;
  std::string error = m.error;
  bundle_.listUncollected(std::move(m), std::move(error));
  return absl::OkStatus();
}

TriageMember CollectorIntake::memberOfEntry() const {
  TriageMember m;
  m.name = entry_.name;
  m.type = entry_.type == '0' && entry_.name.rfind("commands/", 0) == 0 ? "output"
                                                                        : memberType(entry_.type);
  m.archived = true;
  m.size = entry_.size;
  m.link_target = entry_.link;
  m.mode = entry_.mode;
  m.uid = static_cast<std::uint32_t>(entry_.uid);
  m.gid = static_cast<std::uint32_t>(entry_.gid);
  m.mtime = absl::FromUnixSeconds(entry_.mtime);
  m.ctime = m.mtime;
  return m;
}

absl::Status CollectorIntake::close(const std::string& why) {
  if (state_ == State::kEntry) {
    TriageMember m = memberOfEntry();
    const std::uint64_t got = received_;
    std::string zeros(64u << 10, '\0');
    while (received_ < entry_.size) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), entry_.size - received_));
      const std::string_view piece(zeros.data(), n);
      hash_.update(piece);
      WARDEN_RETURN_IF_ERROR(bundle_.writer().data(piece));
      received_ += n;
    }
    WARDEN_RETURN_IF_ERROR(bundle_.writer().end());
    m.sha256 = crypto::hex(hash_.finish());
    m.truncated = got < entry_.size;
    m.error = absl::StrFormat(
        "the collector stopped while sending this member (%s): %d of %d bytes came; the rest of "
        "the member is zeros",
        why, got, entry_.size);
    bundle_.countContent(m.size);
    bundle_.list(std::move(m));
  } else if (state_ == State::kDescribe) {
    TriageMember m = memberOfEntry();
    m.sha256 = entry_.type == '0' ? entry_sha256_ : "";
    m.error = absl::StrCat("the collector stopped before describing this member (", why,
                           "): its source, times and size at the source are unknown");
    bundle_.countContent(m.size);
    bundle_.list(std::move(m));
  }
  state_ = State::kIdle;
  return absl::OkStatus();
}

}  // namespace warden::triage
