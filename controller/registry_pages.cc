// Pages of the registry's lists (controller/paging.h), for the operator API's list RPCs. Each
// page is read in one statement under the registry's lock, and holds no more rows than its
// budget: a page of actions with their receipts is a few MiB at most, however many there are.
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "controller/registry.h"
#include "controller/registry_columns.h"

namespace warden {
namespace {

using registry_columns::kActionColumnCount;

// What an action adds to a page, near enough: the text the operator API sends of it. The
// signed command is not sent in lists.
std::size_t storedBytes(const ActionRow& r) {
  const ActionRecord& a = r.action;
  return 64 + a.id.size() + a.host_id.size() + a.kind.size() + a.state.size() +
         a.requested_by.size() + a.reason.size() + a.params.size() + a.message.size() +
         a.receipt.size();
}

std::size_t storedBytes(const HostRecord& h) {
  return 64 + h.host_id.size() + h.peer.size() + h.containment.size() + h.facts.ByteSizeLong();
}

}  // namespace

absl::StatusOr<RegistryPage<ActionRow>> Registry::listActionsPage(const ActionPageQuery& q) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool one_host = !q.host_id.empty();
  std::int64_t after = q.after_seq;
  if (after == 0 && q.newest > 0) {
    // The first page of the newest N starts at the Nth newest; fewer than N: at the oldest.
    WARDEN_ASSIGN_OR_RETURN(auto floor, db_->prepare(absl::StrFormat(
                                            "SELECT seq FROM actions %s ORDER BY seq DESC LIMIT 1 "
                                            "OFFSET ?",
                                            one_host ? "WHERE host_id = ?" : "")));
    int i = 1;
    if (one_host) floor.bind(i++, q.host_id);
    floor.bind(i, static_cast<std::int64_t>(q.newest) - 1);
    WARDEN_ASSIGN_OR_RETURN(bool row, floor.step());
    if (row) after = floor.integer(0) - 1;
  }
  // One statement per filter, so that each uses its index (actions_by_host, or the seq key).
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat(
                   "SELECT %s, seq, receipt IS NOT NULL FROM actions WHERE %s seq > ? ORDER BY seq "
                   "LIMIT ?",
                   q.with_receipts ? registry_columns::kActionColumns
                                   : registry_columns::kActionColumnsWithoutReceipt,
                   one_host ? "host_id = ? AND" : "")));
  int i = 1;
  if (one_host) st.bind(i++, q.host_id);
  st.bind(i++, after);
  // One row past the page says whether any are left.
  st.bind(i, static_cast<std::int64_t>(q.max_rows) + 1);
  RegistryPage<ActionRow> page;
  PageBudget budget(q.max_rows, q.max_bytes);
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    ActionRow r;
    WARDEN_ASSIGN_OR_RETURN(r.action, readAction(st));
    r.seq = st.integer(kActionColumnCount);
    r.has_receipt = st.integer(kActionColumnCount + 1) != 0;
    if (!budget.take(storedBytes(r))) {
      page.more = true;
      break;
    }
    page.rows.push_back(std::move(r));
  }
  return page;
}

absl::StatusOr<RegistryPage<HostRecord>> Registry::listHostsPage(const std::string& after_host_id,
                                                                 int max_rows,
                                                                 std::size_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat("SELECT %s FROM hosts WHERE host_id > ? ORDER BY "
                                            "host_id LIMIT ?",
                                            registry_columns::kHostColumns)));
  st.bind(1, after_host_id).bind(2, static_cast<std::int64_t>(max_rows) + 1);
  RegistryPage<HostRecord> page;
  PageBudget budget(max_rows, max_bytes);
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    HostRecord h = registry_columns::readHost(st);
    if (!budget.take(storedBytes(h))) {
      page.more = true;
      break;
    }
    page.rows.push_back(std::move(h));
  }
  return page;
}

}  // namespace warden
