// Operator labels on hosts: kubectl's shape (key=value), kept in the registry. Automation reads
// two of them: warden.alias (another name an alert may use for the host) and
// warden.protected=true (never acted on automatically).
#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "controller/registry.h"

namespace warden {
namespace {

constexpr std::size_t kMaxLabelsPerHost = 64;

bool keyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
         c == '-';
}

bool valueChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status validLabel(const std::string& key, const std::string& value) {
  if (key.empty() || key.size() > 63 || !std::all_of(key.begin(), key.end(), keyChar) ||
      !keyChar(key.front()) || key.front() == '.' || key.front() == '-' || key.front() == '/' ||
      key.front() == '_') {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid label key '%s': lower-case letters, digits, '.', '_', '/', '-', at most 63, "
        "starting with a letter or digit",
        key.substr(0, 80)));
  }
  for (const char* fact : {"os", "kernel", "firewall", "hostname"}) {
    if (key == fact) {
      return absl::InvalidArgumentError(
          absl::StrFormat("'%s' is a fact the agent reports, not an operator label", key));
    }
  }
  if (value.size() > 63 || !std::all_of(value.begin(), value.end(), valueChar)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid value for label %s: letters, digits, '.', '_', '-', at most 63", key));
  }
  return absl::OkStatus();
}

absl::Status Registry::setLabels(const std::string& host_id,
                                 const std::map<std::string, std::string>& set,
                                 const std::vector<std::string>& remove) {
  for (const auto& [k, v] : set) WARDEN_RETURN_IF_ERROR(validLabel(k, v));
  for (const auto& k : remove) WARDEN_RETURN_IF_ERROR(validLabel(k, ""));
  WARDEN_RETURN_IF_ERROR(findHost(host_id).status());
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_RETURN_IF_ERROR(db_->exec("BEGIN IMMEDIATE"));
  auto rollback = [&](absl::Status s) {
    (void)db_->exec("ROLLBACK");
    return s;
  };
  for (const auto& k : remove) {
    auto st = db_->prepare("DELETE FROM host_labels WHERE host_id = ? AND key = ?");
    if (!st.ok()) return rollback(st.status());
    if (auto s = st->bind(1, host_id).bind(2, k).run(); !s.ok()) return rollback(s);
  }
  for (const auto& [k, v] : set) {
    auto st = db_->prepare("INSERT OR REPLACE INTO host_labels(host_id, key, value) VALUES(?,?,?)");
    if (!st.ok()) return rollback(st.status());
    if (auto s = st->bind(1, host_id).bind(2, k).bind(3, v).run(); !s.ok()) return rollback(s);
  }
  auto count = db_->prepare("SELECT COUNT(*) FROM host_labels WHERE host_id = ?");
  if (!count.ok()) return rollback(count.status());
  count->bind(1, host_id);
  auto row = count->step();
  if (!row.ok()) return rollback(row.status());
  if (count->integer(0) > static_cast<std::int64_t>(kMaxLabelsPerHost)) {
    return rollback(absl::InvalidArgumentError(
        absl::StrFormat("a host holds at most %d labels", kMaxLabelsPerHost)));
  }
  return db_->exec("COMMIT");
}

absl::StatusOr<std::map<std::string, std::string>> Registry::labels(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("SELECT key, value FROM host_labels WHERE host_id = ?"));
  st.bind(1, host_id);
  std::map<std::string, std::string> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out[st.text(0)] = st.text(1);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Registry::hostsNamed(const std::string& value,
                                                              const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("SELECT host_id FROM hosts WHERE host_id = ? COLLATE NOCASE UNION "
                            "SELECT host_id FROM host_labels WHERE key = ? AND value = ? COLLATE "
                            "NOCASE ORDER BY 1 LIMIT 8"));
  st.bind(1, value).bind(2, key).bind(3, value);
  std::vector<std::string> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(st.text(0));
  }
  return out;
}

}  // namespace warden
