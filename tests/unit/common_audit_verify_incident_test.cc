// The audit verifier on incidents: opened once per id and codename, by an admin or responder,
// closed once; a request naming an incident that is not open gets nothing dispatched; the
// command carries the request's incident id and no reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/audit/incident.h"
#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

constexpr char kIncident[] = "i-00000000000000a1";

Request incidentRequest(const std::string& who, const std::string& id, IncidentChange change) {
  Request q;
  q.id = id;
  q.operator_name = who;
  q.kind = change.kind;
  q.args = incidentChangeArgs(change);
  return q;
}

IncidentChange opening(const std::string& incident, const std::string& codename) {
  return IncidentChange{kIncidentOpenKind, incident, codename, 2, "web server", ""};
}

IncidentChange closing(const std::string& incident) {
  return IncidentChange{kIncidentCloseKind, incident, "", 0, "", ""};
}

TEST_F(AuditVerifyTest, IncidentRules) {
  const Keys& k = keys();
  // Alice opens kIncident as sapphire-unicorn.
  const auto open = [&](LogBuilder& b) {
    b.request(k.alice, incidentRequest("alice", "r-00000000000000e1",
                                       opening(kIncident, "sapphire-unicorn")));
  };
  // Bob's isolation of host-2 naming `incident`, and its dispatch carrying `carried`.
  const auto isolate = [&](LogBuilder& b, const std::string& incident, const std::string& carried) {
    Request q = LogBuilder::makeRequest("bob", "r-00000000000000e2", "isolate", {"host-2"});
    q.incident = incident;
    b.request(k.bob, q);
    Command c = b.command("a-00000000000000e2", "host-2", "isolate", "bob");
    c.incident = carried;
    b.dispatch(c, "r-00000000000000e2");
  };
  const std::vector<RuleCase> cases = {
      {"an action under an open incident",
       [&](LogBuilder& b) {
         open(b);
         isolate(b, kIncident, kIncident);
         b.request(k.bob, incidentRequest("bob", "r-00000000000000e3",
                                          IncidentChange{kIncidentNoteKind, kIncident, "", 0, "",
                                                         "came in through the upload form"}));
         b.request(k.alice, incidentRequest("alice", "r-00000000000000e4", closing(kIncident)));
         b.request(k.bob, incidentRequest("bob", "r-00000000000000e5",
                                          IncidentChange{kIncidentNoteKind, kIncident, "", 0, "",
                                                         "post-mortem written"}));
       },
       ""},
      {"an incident never opened", [&](LogBuilder& b) { isolate(b, kIncident, kIncident); },
       "has incident 'i-00000000000000a1', which is not opened before it: the controller "
       "refuses it"},
      {"a closed incident",
       [&](LogBuilder& b) {
         open(b);
         b.request(k.alice, incidentRequest("alice", "r-00000000000000e4", closing(kIncident)));
         isolate(b, kIncident, kIncident);
       },
       "which is closed"},
      {"the command drops the incident",
       [&](LogBuilder& b) {
         open(b);
         isolate(b, kIncident, "");
       },
       "command incident (version 1: reason) differs from request r-00000000000000e2's"},
      {"the command names another incident",
       [&](LogBuilder& b) {
         open(b);
         isolate(b, "", kIncident);
       },
       "command incident (version 1: reason) differs from request r-00000000000000e2's"},
      {"one codename twice",
       [&](LogBuilder& b) {
         open(b);
         b.request(k.bob, incidentRequest("bob", "r-00000000000000e6",
                                          opening("i-00000000000000a2", "sapphire-unicorn")));
       },
       "codename 'sapphire-unicorn' already names an incident"},
      {"one id twice",
       [&](LogBuilder& b) {
         open(b);
         b.request(k.bob, incidentRequest("bob", "r-00000000000000e6",
                                          opening(kIncident, "quiet-harbor")));
       },
       "incident id i-00000000000000a1 was already opened"},
      {"closed twice",
       [&](LogBuilder& b) {
         open(b);
         b.request(k.alice, incidentRequest("alice", "r-00000000000000e4", closing(kIncident)));
         b.request(k.bob, incidentRequest("bob", "r-00000000000000e5", closing(kIncident)));
       },
       "incident i-00000000000000a1 was closed already"},
      {"a note on no incident",
       [&](LogBuilder& b) {
         b.request(k.bob, incidentRequest(
                              "bob", "r-00000000000000e3",
                              IncidentChange{kIncidentNoteKind, kIncident, "", 0, "", "text"}));
       },
       "incident i-00000000000000a1 is not opened before it"},
      {"an auditor opens one",
       [&](LogBuilder& b) {
         b.request(k.carol, incidentRequest("carol", "r-00000000000000e1",
                                            opening(kIncident, "sapphire-unicorn")));
       },
       "operator carol (role auditor) may not change incidents"},
      {"a codename that does not parse",
       [&](LogBuilder& b) {
         b.request(k.alice, incidentRequest("alice", "r-00000000000000e1",
                                            opening(kIncident, "Sapphire Unicorn")));
       },
       "invalid codename"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });
}

}  // namespace
}  // namespace warden::testing
