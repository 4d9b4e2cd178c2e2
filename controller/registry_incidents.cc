// Incidents and the scribe's notes, as the controller keeps them for `warden incident`. The
// signed requests in the action log are the record; these rows only answer lookups.
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "controller/registry.h"

namespace warden {
namespace {

constexpr char kIncidentColumns[] =
    "id, codename, severity, summary, opened_by, opened_ms, open_log_index, closed_by, closed_ms";

IncidentRecord readIncident(const Statement& st) {
  IncidentRecord i;
  i.id = st.text(0);
  i.codename = st.text(1);
  i.severity = static_cast<int>(st.integer(2));
  i.summary = st.text(3);
  i.opened_by = st.text(4);
  i.opened_ms = st.integer(5);
  i.open_log_index = st.integer(6);
  i.closed_by = st.text(7);
  i.closed_ms = st.integer(8);
  return i;
}

}  // namespace

absl::Status Registry::addIncident(const IncidentRecord& i) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto taken, db_->prepare("SELECT id FROM incidents WHERE id = ? OR codename = ? LIMIT 1"));
  taken.bind(1, i.id).bind(2, i.codename);
  WARDEN_ASSIGN_OR_RETURN(bool exists, taken.step());
  if (exists) {
    return absl::AlreadyExistsError(
        taken.text(0) == i.id
            ? absl::StrFormat("incident id %s is taken", i.id)
            : absl::StrFormat("the codename %s is taken by another incident", i.codename));
  }
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat("INSERT INTO incidents(%s) VALUES(?,?,?,?,?,?,?,?,?)",
                                            kIncidentColumns)));
  return st.bind(1, i.id)
      .bind(2, i.codename)
      .bind(3, std::int64_t{i.severity})
      .bind(4, i.summary)
      .bind(5, i.opened_by)
      .bind(6, i.opened_ms)
      .bind(7, i.open_log_index)
      .bind(8, i.closed_by)
      .bind(9, i.closed_ms)
      .run();
}

absl::StatusOr<IncidentRecord> Registry::findIncident(const std::string& id_or_codename) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare(absl::StrFormat("SELECT %s FROM incidents WHERE id = ? OR codename = ? LIMIT 1",
                                   kIncidentColumns)));
  st.bind(1, id_or_codename).bind(2, id_or_codename);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) {
    return absl::NotFoundError(absl::StrFormat(
        "no incident '%s' ('warden incident list' shows them)", id_or_codename.substr(0, 60)));
  }
  return readIncident(st);
}

absl::StatusOr<std::vector<IncidentRecord>> Registry::listIncidents(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare(absl::StrFormat("SELECT %s FROM incidents ORDER BY opened_ms DESC, id LIMIT ?",
                                   kIncidentColumns)));
  st.bind(1, std::int64_t{limit});
  std::vector<IncidentRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(readIncident(st));
  }
  return out;
}

absl::Status Registry::closeIncident(const std::string& id, const std::string& by,
                                     std::int64_t at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("UPDATE incidents SET closed_by = ?, closed_ms = ? WHERE id = ? AND "
                            "closed_by = ''"));
  WARDEN_RETURN_IF_ERROR(st.bind(1, by).bind(2, at_ms).bind(3, id).run());
  if (db_->changes() == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("incident %s is not open", id.substr(0, 60)));
  }
  return absl::OkStatus();
}

absl::Status Registry::addIncidentNote(const std::string& id, const IncidentNote& note) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("INSERT INTO incident_notes(incident, author, at_ms, text, log_index) "
                            "VALUES(?,?,?,?,?)"));
  return st.bind(1, id)
      .bind(2, note.by)
      .bind(3, note.at_ms)
      .bind(4, note.text)
      .bind(5, note.log_index)
      .run();
}

absl::StatusOr<std::vector<IncidentNote>> Registry::incidentNotes(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT author, at_ms, text, log_index FROM "
                                                "incident_notes WHERE incident = ? ORDER BY seq"));
  st.bind(1, id);
  std::vector<IncidentNote> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(IncidentNote{st.text(0), st.integer(1), st.text(2), st.integer(3)});
  }
  return out;
}

}  // namespace warden
