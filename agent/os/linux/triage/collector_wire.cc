#include "agent/os/linux/triage/collector_wire.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr absl::string_view kFilesPrefix = "files/";
constexpr const char* kMemberTypes[] = {"file",   "directory", "symlink", "hardlink",
                                        "output", "special",   "absent",  "unknown"};
constexpr std::uint64_t kMaxId = 0xffffffffull;

absl::Status violation(const std::string& what) { return protocolViolation(what); }

absl::Status checkString(const std::string& s, std::size_t max, const char* field) {
  if (s.size() > max) {
    return violation(absl::StrFormat("%s of %d bytes (at most %d)", field, s.size(), max));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status protocolViolation(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("collector protocol violation: ", what));
}

std::string shownName(const std::string& name) {
  return absl::StrCat("\"", absl::CHexEscape(name.substr(0, 200)), name.size() > 200 ? "..." : "",
                      "\"");
}

const std::vector<std::string>& collectorOutputNames() {
  static const auto* names = new std::vector<std::string>{
      "commands/host.json",         "commands/processes.json", "commands/sockets.json",
      "commands/modules.txt",       "commands/tainted.txt",    "commands/mountinfo.txt",
      "commands/vendor-units.json", "commands/lastlog.json"};
  return *names;
}

std::string frameMessage(const v1::CollectorMessage& m) {
  const std::string body = m.SerializeAsString();
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string out;
  out.reserve(4 + body.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += body;
  return out;
}

void FrameReader::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

absl::StatusOr<std::optional<v1::CollectorMessage>> FrameReader::next() {
  if (pending() < 4) return std::nullopt;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<std::uint32_t>(static_cast<unsigned char>(buf_[pos_ + i])) << (8 * i);
  }
  if (n > max_) {
    return violation(absl::StrFormat("a message of %d bytes (at most %d)", n, max_));
  }
  if (pending() < 4 + static_cast<std::size_t>(n)) return std::nullopt;
  v1::CollectorMessage m;
  if (!m.ParseFromArray(buf_.data() + pos_ + 4, static_cast<int>(n))) {
    return violation(absl::StrFormat("%d bytes that are not a message", n));
  }
  pos_ += 4 + static_cast<std::size_t>(n);
  return m;
}

absl::Status checkCollectorName(const std::string& name, bool directory) {
  WARDEN_RETURN_IF_ERROR(checkString(name, kMaxHostString, "a member name"));
  if (name.find('\0') != std::string_view::npos) {
    return violation(absl::StrCat("member name ", shownName(name), " holds a NUL byte"));
  }
  const auto& outputs = collectorOutputNames();
  if (std::find(outputs.begin(), outputs.end(), name) != outputs.end()) {
    if (directory) return violation(absl::StrCat("output ", shownName(name), " as a directory"));
    return absl::OkStatus();
  }
  if (!absl::StartsWith(name, kFilesPrefix)) {
    return violation(absl::StrCat("member name ", shownName(name),
                                  " is neither files/... nor one of the collector's outputs"));
  }
  absl::string_view path = absl::string_view(name).substr(kFilesPrefix.size());
  if (path.empty()) {
    return violation(absl::StrCat("member name ", shownName(name), " names no file"));
  }
  if (directory != absl::EndsWith(name, "/")) {
    return violation(absl::StrCat(
        "member name ", shownName(name),
        directory ? " of a directory does not end with /" : " ends with / but is not a directory"));
  }
  if (directory) path.remove_suffix(1);  // not empty: name ends with '/' past the prefix
  for (absl::string_view c : absl::StrSplit(path, '/')) {
    if (c.empty() || c == "." || c == "..") {
      return violation(
          absl::StrCat("member name ", shownName(name), " has an empty, . or .. part"));
    }
  }
  return absl::OkStatus();
}

v1::CollectorEntry entryToWire(const TarEntry& e) {
  v1::CollectorEntry w;
  w.set_name(e.name);
  w.set_type(static_cast<unsigned char>(e.type));
  w.set_mode(e.mode);
  w.set_uid(e.uid);
  w.set_gid(e.gid);
  w.set_mtime(e.mtime);
  w.set_size(e.size);
  w.set_link(e.link);
  return w;
}

absl::StatusOr<TarEntry> entryFromWire(const v1::CollectorEntry& w) {
  TarEntry e;
  if (w.type() != '0' && w.type() != '1' && w.type() != '2' && w.type() != '5') {
    return violation(absl::StrFormat("an entry of tar type %d", w.type()));
  }
  e.type = static_cast<char>(w.type());
  WARDEN_RETURN_IF_ERROR(checkCollectorName(w.name(), e.type == '5'));
  e.name = w.name();
  if (e.type != '0' && w.size() != 0) {
    return violation(absl::StrCat("entry ", shownName(e.name), " has content but is no file"));
  }
  const bool link = e.type == '1' || e.type == '2';
  if (link != !w.link().empty()) {
    return violation(absl::StrCat("entry ", shownName(e.name),
                                  link ? " is a link without a target" : " has a link target"));
  }
  WARDEN_RETURN_IF_ERROR(checkString(w.link(), kMaxHostString, "a link target"));
  if (w.link().find('\0') != std::string::npos) {
    return violation(absl::StrCat("entry ", shownName(e.name), ": link target holds a NUL byte"));
  }
  if (w.mode() > 07777 || w.uid() > kMaxId || w.gid() > kMaxId) {
    return violation(absl::StrCat("entry ", shownName(e.name), ": mode or ids out of range"));
  }
  e.mode = w.mode();
  e.uid = w.uid();
  e.gid = w.gid();
  e.mtime = w.mtime();
  e.size = w.size();
  e.link = w.link();
  return e;
}

v1::CollectorMember memberToWire(const TriageMember& m) {
  v1::CollectorMember w;
  w.set_name(m.name);
  w.set_type(m.type);
  w.set_source(m.source);
  w.set_archived(m.archived);
  w.set_size(m.size);
  w.set_source_size(m.source_size);
  w.set_truncated(m.truncated);
  w.set_error(m.error);
  w.set_link_target(m.link_target);
  w.set_mode(m.mode);
  w.set_uid(m.uid);
  w.set_gid(m.gid);
  w.set_mtime_unix_ns(absl::ToUnixNanos(m.mtime));
  w.set_ctime_unix_ns(absl::ToUnixNanos(m.ctime));
  return w;
}

absl::StatusOr<TriageMember> memberFromWire(const v1::CollectorMember& w) {
  if (std::none_of(std::begin(kMemberTypes), std::end(kMemberTypes),
                   [&](const char* t) { return w.type() == t; })) {
    return violation(absl::StrCat("a member of type ", shownName(w.type())));
  }
  // "absent" and "unknown" name what was looked for, which may have been a directory.
  const bool either = w.type() == "absent" || w.type() == "unknown";
  const bool directory = either ? absl::EndsWith(w.name(), "/") : w.type() == "directory";
  WARDEN_RETURN_IF_ERROR(checkCollectorName(w.name(), directory));
  WARDEN_RETURN_IF_ERROR(checkString(w.source(), kMaxHostString, "a source"));
  WARDEN_RETURN_IF_ERROR(checkString(w.error(), kMaxErrorString, "an error"));
  WARDEN_RETURN_IF_ERROR(checkString(w.link_target(), kMaxHostString, "a link target"));
  if (w.mode() > 07777) return violation(absl::StrCat("member ", shownName(w.name()), ": mode"));
  TriageMember m;
  m.name = w.name();
  m.type = w.type();
  m.source = w.source();
  m.archived = w.archived();
  m.size = w.size();
  m.source_size = w.source_size();
  m.truncated = w.truncated();
  m.error = w.error();
  m.link_target = w.link_target();
  m.mode = w.mode();
  m.uid = w.uid();
  m.gid = w.gid();
  m.mtime = absl::FromUnixNanos(w.mtime_unix_ns());
  m.ctime = absl::FromUnixNanos(w.ctime_unix_ns());
  return m;
}

v1::CollectorOrders ordersToWire(const CollectorOrders& o) {
  v1::CollectorOrders w;
  w.set_root(o.root);
  w.set_max_member_bytes(o.limits.max_member_bytes);
  w.set_max_total_bytes(o.limits.max_total_bytes);
  w.set_max_members(o.limits.max_members);
  for (const std::string& p : o.withheld) w.add_withheld(p);
  w.set_uid(o.uid);
  w.set_gid(o.gid);
  w.set_fault(o.fault);
  return w;
}

absl::StatusOr<CollectorOrders> ordersFromWire(const v1::CollectorOrders& w) {
  CollectorOrders o;
  if (w.root().empty() || w.root()[0] != '/' || w.root().size() > kMaxHostString) {
    return absl::InvalidArgumentError("the collector's root must be an absolute path");
  }
  if (w.max_member_bytes() == 0 || w.max_total_bytes() == 0 || w.max_members() == 0) {
    return absl::InvalidArgumentError("triage limits must be positive");
  }
  if (w.uid() == 0 || w.gid() == 0) {
    return absl::InvalidArgumentError("the collector must not run as root (uid or gid 0)");
  }
  for (const std::string& p : w.withheld()) {
    if (p.empty() || p[0] != '/') {
      return absl::InvalidArgumentError("a withheld path must be absolute");
    }
    o.withheld.push_back(p);
  }
  o.root = w.root();
  o.limits.max_member_bytes = w.max_member_bytes();
  o.limits.max_total_bytes = w.max_total_bytes();
  o.limits.max_members = static_cast<std::size_t>(w.max_members());
  o.uid = w.uid();
  o.gid = w.gid();
  o.fault = w.fault();
  return o;
}

}  // namespace warden::triage
