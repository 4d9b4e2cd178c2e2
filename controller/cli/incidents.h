// `warden incident open|list|show|close|note|report` and `warden timeline export`
// (DESIGN.md "Incidents, the timeline and the post-mortem").
#pragma once

#include <string>

#include "controller/cli/client.h"

namespace warden::cli {

struct IncidentOpenArgs {
  std::string codename;  // generated when empty
  int severity = 3;
  std::string summary;
};

// Prints the codename alone on stdout (or the incident with --json).
int incidentOpen(const Globals& g, const IncidentOpenArgs& args);
int incidentList(const Globals& g);
int incidentShow(const Globals& g, const std::string& name);
int incidentClose(const Globals& g, const std::string& name);
int incidentNote(const Globals& g, const std::string& name, const std::string& text);
// The post-mortem draft (Markdown) to `out` ("" or "-": stdout).
int incidentReport(const Globals& g, const std::string& name, const std::string& out);

struct TimelineArgs {
  std::string incident;  // codename or id
  std::string host;
  std::string format = "jsonl";
  std::string out;  // "-": stdout
};

int timelineExport(const Globals& g, const TimelineArgs& args);

}  // namespace warden::cli
