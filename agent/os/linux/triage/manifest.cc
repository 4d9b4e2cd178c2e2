// MANIFEST.json ("warden-triage-manifest/1"), the bundle's last member: every member with its
// source, size and SHA-256, and every source that was found but not collected, with the
// reason; the limits and which of them were hit.
#include <unistd.h>

#include "agent/os/linux/triage/bundle.h"
#include "agent/os/linux/triage/json_fields.h"

namespace warden::triage {
namespace {

Json memberJson(const TriageMember& m) {
  Json j;
  putText(j, "name", m.name);
  j["type"] = m.type;
  putText(j, "source", m.source);
  j["archived"] = m.archived;
  j["size"] = m.size;
  j["source_size"] = m.source_size;
  j["sha256"] = m.sha256;
  j["truncated"] = m.truncated;
  putText(j, "error", m.error);
  if (m.type == "absent" || m.type == "unknown") {  // nothing could be stat'ed
    for (const char* key : {"mode", "uid", "gid", "mtime", "ctime"}) j[key] = nullptr;
  } else {
    j["mode"] = octalMode(m.mode);
    j["uid"] = m.uid;
    j["gid"] = m.gid;
    j["mtime"] = rfc3339(m.mtime);
    j["ctime"] = rfc3339(m.ctime);
  }
  if (!m.link_target.empty()) putText(j, "link_target", m.link_target);
  return j;
}

}  // namespace

std::string Bundle::manifest(absl::Time finished) const {
  Json j;
  j["schema"] = kTriageManifestSchema;
  j["collected_at"] = rfc3339(now_);
  j["finished_at"] = rfc3339(finished);
  putText(j, "hostname", hostname_);
  putText(j, "boot_id", boot_id_);
  putText(j, "root", options_.root);
  j["agent_pid"] = ::getpid();
  j["string_encoding"] =
      "UTF-8; bytes that are not UTF-8 appear as U+FFFD, and such a field has a twin "
      "\"<field>_hex\" with the raw bytes in hex";
  j["limits"] = {{"max_member_bytes", limits_.max_member_bytes},
                 {"max_total_bytes", limits_.max_total_bytes},
                 {"max_members", limits_.max_members}};
  j["limits_hit"] = limits_hit_;
  if (!collector_.is_null()) j["collector"] = collector_;
  j["content_bytes"] = total_;
  j["member_count"] = members_.size();
  Json members = Json::array();
  for (const TriageMember& m : members_) members.push_back(memberJson(m));
  j["members"] = std::move(members);
  // One top-level field a line and one member a line, each compact: the manifest is read with
  // grep and diff as much as with a JSON parser.
  JsonLayout layout;
  layout.field_per_line = true;
  layout.rows_key = "members";
  return dumpJson(j, layout) + "\n";
}

}  // namespace warden::triage
