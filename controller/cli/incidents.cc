#include "controller/cli/incidents.h"

#include <unistd.h>

#include <cstdio>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/audit/incident.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/merkle.h"
#include "common/note.h"
#include "controller/cli/audit.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"
#include "controller/cli/timeline_events.h"
#include "controller/cli/timeline_formats.h"

namespace warden::cli {
namespace {

// A generated codename is tried again (a fresh pair) when the controller has it already.
constexpr int kCodenameAttempts = 16;

int exitForChange(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    printError(s.error_message());
    return kExitBadInput;
  }
  return reportRpcError(s);
}

// Signs `change` as this operator's request and sends it.
grpc::Status sendChange(Client& c, const IncidentChange& change, v1::IncidentView* out) {
  Request r;
  r.kind = change.kind;
  r.args = incidentChangeArgs(change);
  auto signed_request = signedRequest(c, std::move(r));
  if (!signed_request.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(signed_request.status().message()));
  }
  v1::ChangeIncidentRequest req;
  req.set_request(signed_request->first);
  req.set_request_signature(signed_request->second);
  return c.call(&v1::Operator::Stub::ChangeIncident, req, out, absl::Seconds(15));
}

void printIncident(const v1::IncidentView& i) {
  std::printf("%s (%s)\n", printable(i.codename()).c_str(), i.id().c_str());
  std::printf("  severity  %d\n", i.severity());
  std::printf("  state     %s\n", i.state().c_str());
  std::printf("  opened    %s UTC by %s (log entry %llu)\n", formatTime(i.opened_unix_ms()).c_str(),
              printable(i.opened_by()).c_str(),
              static_cast<unsigned long long>(i.open_log_index()));
  if (i.state() == "closed") {
    std::printf("  closed    %s UTC by %s\n", formatTime(i.closed_unix_ms()).c_str(),
                printable(i.closed_by()).c_str());
  }
  if (!i.summary().empty()) std::printf("  summary   %s\n", printable(i.summary()).c_str());
  for (const auto& n : i.notes()) {
    std::printf("  note      %s UTC %s (log entry %llu): %s\n", formatTime(n.at_unix_ms()).c_str(),
                printable(n.by()).c_str(), static_cast<unsigned long long>(n.log_index()),
                printable(n.text()).c_str());
  }
}

void printIncidents(const v1::ListIncidentsResponse& resp) {
  if (resp.incidents().empty()) {
    std::printf("No incidents. 'warden incident open' opens one.\n");
    return;
  }
  std::printf("%-28s %-3s %-6s %-19s %-12s %s\n", "CODENAME", "SEV", "STATE", "OPENED (UTC)", "BY",
              "SUMMARY");
  for (const auto& i : resp.incidents()) {
    std::printf("%-28s %-3d %-6s %-19s %-12s %s\n", printable(i.codename()).c_str(), i.severity(),
                i.state().c_str(), formatTime(i.opened_unix_ms()).c_str(),
                printable(i.opened_by()).c_str(), printable(i.summary()).substr(0, 60).c_str());
  }
}

// Writes `text` to `out` ("" or "-": stdout); never over an existing file.
int writeOut(const std::string& out, const std::string& text) {
  if (out.empty() || out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  if (pathExists(out)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", out));
    return kExitBadInput;
  }
  if (auto s = writeFileAtomic(out, text, 0600); !s.ok()) {
    printError(absl::StrFormat("cannot write %s: %s", out, s.message()));
    return kExitFailed;
  }
  return kExitOk;
}

// The log up to the controller's newest checkpoint, fed to `builder`, with the tree checked
// against the checkpoint's root: what the timeline says is what the signed log holds.
absl::StatusOr<note::Checkpoint> readTimeline(Client& c, TimelineBuilder& builder,
                                              std::string* signed_checkpoint) {
  v1::GetCheckpointRequest req;
  v1::GetCheckpointResponse resp;
  auto s = c.call(&v1::Operator::Stub::GetCheckpoint, req, &resp, absl::Seconds(15));
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  auto verifier = note::parseVerifierKey(resp.vkey());
  if (!verifier.ok()) return verifier.status();
  if (auto opened = note::openNote(resp.checkpoint(), {*verifier}); !opened.ok()) {
    return absl::DataLossError(absl::StrFormat("the controller's checkpoint does not verify: %s",
                                               opened.status().message()));
  }
  WARDEN_ASSIGN_OR_RETURN(note::Checkpoint cp, note::parseSignedCheckpoint(resp.checkpoint()));
  std::vector<std::string> leaves;
  leaves.reserve(cp.size);
  auto fed = forEachLogEntry(c, 0, cp.size, [&](std::uint64_t index, std::string_view entry) {
    leaves.push_back(merkle::leafHash(entry));
    return builder.add(index, entry);
  });
  if (!fed.ok()) return fed;
  if (merkle::rootFromLeafHashes(leaves) != cp.root_hash) {
    return absl::DataLossError(absl::StrFormat(
        "the %d entries the controller served do not hash to its signed checkpoint's root",
        cp.size));
  }
  *signed_checkpoint = resp.checkpoint();
  return cp;
}

// The incident's id for a codename or id (any state), or the exit code after saying why not.
absl::StatusOr<v1::IncidentView> findIncident(Client& c, const std::string& name) {
  v1::GetIncidentRequest q;
  q.set_name(name);
  v1::IncidentView view;
  auto s = c.call(&v1::Operator::Stub::GetIncident, q, &view, absl::Seconds(15));
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return view;
}

std::string durationText(std::int64_t ms) {
  if (ms < 1000) return absl::StrFormat("%d ms", ms);
  if (ms < 120000) return absl::StrFormat("%.1f s", ms / 1000.0);
  if (ms < 7200000) return absl::StrFormat("%d min %d s", ms / 60000, (ms / 1000) % 60);
  return absl::StrFormat("%d h %d min", ms / 3600000, (ms / 60000) % 60);
}

std::string utc(std::int64_t ms) { return formatTime(ms) + " UTC"; }

// The post-mortem draft, in the shape responders use.
std::string reportMarkdown(const IncidentFacts& f, const std::vector<TimelineEvent>& events,
                           const note::Checkpoint& cp, const std::string& checkpoint) {
  std::string md;
  auto line = [&md](const std::string& s) { md += s + "\n"; };
  line(absl::StrFormat("# Post-mortem draft: %s", markdownCell(f.codename)));
  line("");
  line(absl::StrFormat(
      "_Drafted by `warden incident report` at %s from the signed action log (%d entries). "
      "Every timeline row names the log entry that proves it: `warden audit prove N`._",
      utc(absl::ToUnixMillis(absl::Now())), cp.size));
  line("");
  line("## Summary");
  line("");
  line(f.summary.empty() ? "_No summary was given when the incident was opened._"
                         : markdownCell(f.summary));
  line("");
  line(absl::StrFormat("- **Incident:** %s (`%s`)", markdownCell(f.codename), f.id));
  line(absl::StrFormat("- **Severity:** %d (1 is the most severe)", f.severity));
  line(absl::StrFormat("- **Opened:** %s by %s", utc(f.opened_ms), markdownCell(f.opened_by)));
  line(f.closed_ms > 0
           ? absl::StrFormat("- **Closed:** %s by %s", utc(f.closed_ms), markdownCell(f.closed_by))
           : std::string("- **State:** open"));
  line("");
  line("## Responders");
  line("");
  std::set<std::string> responders = f.responders;
  responders.insert(f.opened_by);
  if (!f.closed_by.empty()) responders.insert(f.closed_by);
  for (const auto& r : responders) line("- " + markdownCell(r));
  line("");
  line("_From the operators' signed requests in the log (opening, actions, closing)._");
  line("");
  line("## Hosts affected");
  line("");
  if (f.hosts.empty()) line("_No command was sent to a host under this incident._");
  for (const auto& h : f.hosts) line("- " + markdownCell(h));
  line("");
  line("## Time to contain");
  line("");
  const bool from_alert = f.first_alert_ms > 0;
  const std::int64_t start = from_alert ? f.first_alert_ms : f.first_request_ms;
  if (from_alert) line(absl::StrFormat("- **First alert:** %s", utc(f.first_alert_ms)));
  if (f.first_request_ms > 0) {
    line(absl::StrFormat("- **First action requested:** %s", utc(f.first_request_ms)));
  }
  if (f.first_containment_ms > 0) {
    line(absl::StrFormat(
        "- **First verified containment:** %s (isolation of %s, signed receipt at log entry %d)",
        utc(f.first_containment_ms), markdownCell(f.first_containment_host),
        f.first_containment_index));
    line(absl::StrFormat("- **Time to contain** (from the first %s): %s",
                         from_alert ? "alert" : "action",
                         durationText(f.first_containment_ms - start)));
  } else {
    line(
        "- **No verified containment yet** (no isolation under this incident has a signed "
        "receipt of success).");
  }
  line("");
  line("## Timeline");
  line("");
  line(timelineMarkdown(events));
  line("## Evidence");
  line("");
  bool any = false;
  for (const auto& ev : events) {
    if (ev.sha256.empty() || ev.timestamp_desc == "Process started") continue;
    if (!any) {
      line("| Item | Host | SHA-256 | Source | Proof |");
      line("|---|---|---|---|---|");
      any = true;
    }
    line(absl::StrFormat("| %s | %s | `%s` | %s | `warden audit prove %d` |",
                         markdownCell(ev.message), markdownCell(ev.host), markdownCell(ev.sha256),
                         markdownCell(ev.evidence), ev.log_index));
  }
  if (!any) line("_No evidence was acquired under this incident._");
  line("");
  line("## Open items");
  line("");
  for (const auto& [id, what] : f.unanswered) {
    line(absl::StrFormat("- [ ] %s (`%s`) has no receipt yet: `warden action %s`",
                         markdownCell(what), id, id));
  }
  for (const auto& what : f.failed) line("- [ ] Did not succeed: " + markdownCell(what));
  if (f.closed_ms == 0)
    line("- [ ] The incident is still open: `warden incident close " + f.codename + "`");
  line("- [ ] Root cause and attack vector");
  line("- [ ] What went well, what to change");
  line("");
  line("## Proof");
  line("");
  line(absl::StrFormat(
      "This checkpoint, signed by the controller, covers every entry above (tree size %d). "
      "Keep it with the report; `warden audit verify EXPORT --checkpoint FILE` checks that a later "
      "export of the log extends it.",
      cp.size));
  line("");
  line("```");
  md += checkpoint;
  if (!checkpoint.empty() && checkpoint.back() != '\n') md += "\n";
  line("```");
  return md;
}

}  // namespace

int incidentOpen(const Globals& g, const IncidentOpenArgs& args) {
  if (!args.codename.empty()) {
    if (auto s = validCodename(args.codename); !s.ok()) {
      printError(std::string(s.message()));
      return kExitBadInput;
    }
  }
  if (args.severity < 1 || args.severity > 5) {
    printError(absl::StrFormat("invalid severity %d (1, the most severe, to 5)", args.severity));
    return kExitBadInput;
  }
  if (args.summary.size() > kMaxIncidentSummary) {
    printError("the summary is too long (4096 bytes at most)");
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    for (int attempt = 0;; ++attempt) {
      auto id = crypto::randomBytes(8);
      auto pick = crypto::randomBytes(4);
      if (!id.ok() || !pick.ok()) {
        printError("no randomness for the incident id");
        return kExitFailed;
      }
      IncidentChange change;
      change.kind = kIncidentOpenKind;
      change.id = "i-" + crypto::hex(*id);
      change.codename = args.codename.empty() ? codenameFrom(*pick) : args.codename;
      change.severity = args.severity;
      change.summary = args.summary;
      v1::IncidentView view;
      auto s = sendChange(c, change, &view);
      if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS && args.codename.empty() &&
          attempt + 1 < kCodenameAttempts) {
        continue;
      }
      if (!s.ok()) return exitForChange(s);
      if (g.json) {
        printMessageJson(view);
      } else {
        std::printf("%s\n", view.codename().c_str());
      }
      return kExitOk;
    }
  });
}

int incidentList(const Globals& g) {
  return showAnswer(g, &v1::Operator::Stub::ListIncidents, v1::ListIncidentsRequest(),
                    absl::Seconds(15), printIncidents);
}

int incidentShow(const Globals& g, const std::string& name) {
  v1::GetIncidentRequest req;
  req.set_name(name);
  return showAnswer(g, &v1::Operator::Stub::GetIncident, req, absl::Seconds(15), printIncident);
}

int incidentClose(const Globals& g, const std::string& name) {
  return withClient(g, [&](Client& c) {
    auto found = findIncident(c, name);
    if (!found.ok()) return reportStatus(found.status());
    if (found->state() != "open") {
      printError(absl::StrFormat("incident %s was closed by %s already", found->codename(),
                                 found->closed_by()));
      return kExitBadInput;
    }
    IncidentChange change;
    change.kind = kIncidentCloseKind;
    change.id = found->id();
    v1::IncidentView view;
    if (auto s = sendChange(c, change, &view); !s.ok()) return exitForChange(s);
    if (g.json) {
      printMessageJson(view);
    } else {
      std::printf("Closed incident %s (%s).\n", printable(view.codename()).c_str(),
                  view.id().c_str());
    }
    return kExitOk;
  });
}

int incidentNote(const Globals& g, const std::string& name, const std::string& text) {
  if (text.empty() || text.size() > kMaxIncidentNote) {
    printError("a note needs text (16384 bytes at most)");
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    auto found = findIncident(c, name);
    if (!found.ok()) return reportStatus(found.status());
    IncidentChange change;
    change.kind = kIncidentNoteKind;
    change.id = found->id();
    change.text = text;
    v1::IncidentView view;
    if (auto s = sendChange(c, change, &view); !s.ok()) return exitForChange(s);
    if (g.json) {
      printMessageJson(view);
    } else {
      std::printf("Noted in %s.\n", printable(view.codename()).c_str());
    }
    return kExitOk;
  });
}

int incidentReport(const Globals& g, const std::string& name, const std::string& out) {
  if (!out.empty() && out != "-" && pathExists(out)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", out));
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    auto found = findIncident(c, name);
    if (!found.ok()) return reportStatus(found.status());
    TimelineBuilder builder(TimelineFilter{found->id(), ""});
    std::string checkpoint;
    auto cp = readTimeline(c, builder, &checkpoint);
    if (!cp.ok()) return reportStatus(cp.status());
    if (!builder.incidentSeen()) {
      printError(
          absl::StrFormat("incident %s is not in the log up to its checkpoint", found->codename()));
      return kExitFailed;
    }
    return writeOut(out, reportMarkdown(builder.facts(), builder.events(), *cp, checkpoint));
  });
}

int timelineExport(const Globals& g, const TimelineArgs& args) {
  auto format = parseTimelineFormat(args.format);
  if (!format.ok()) {
    printError(std::string(format.status().message()));
    return kExitBadInput;
  }
  if (args.out != "-" && pathExists(args.out)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", args.out));
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    TimelineFilter filter{"", args.host};
    if (!args.incident.empty()) {
      auto found = findIncident(c, args.incident);
      if (!found.ok()) return reportStatus(found.status());
      filter.incident_id = found->id();
    }
    TimelineBuilder builder(filter);
    std::string checkpoint;
    auto cp = readTimeline(c, builder, &checkpoint);
    if (!cp.ok()) return reportStatus(cp.status());
    if (!args.host.empty() && !builder.hostEnrolled()) {
      // An unknown host is a typo more often than a host with no history: say so.
      printError(absl::StrFormat("host %s never enrolled ('warden hosts' lists them)", args.host));
      return kExitBadInput;
    }
    const auto events = builder.events();
    if (int rc = writeOut(args.out, formatTimeline(*format, events)); rc != kExitOk) return rc;
    if (args.out != "-") {
      if (g.json) {
        std::printf("%s\n", dumpJson(Json{{"events", events.size()},
                                          {"tree_size", cp->size},
                                          {"out", args.out},
                                          {"format", args.format}})
                                .c_str());
      } else {
        std::fprintf(stderr,
                     "Wrote %zu events to %s (log of %llu entries, checked against its "
                     "signed checkpoint).\n",
                     events.size(), args.out.c_str(), static_cast<unsigned long long>(cp->size));
      }
    }
    return kExitOk;
  });
}

}  // namespace warden::cli
