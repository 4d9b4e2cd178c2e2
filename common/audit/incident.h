// Incidents (DESIGN.md "Incidents, the timeline and the post-mortem"): an operator's signed
// requests open one, add the scribe's notes to it and close it; every host-changing request may
// name one by its id (Request::incident). The codename, severity and summary live in the log
// and on the controller only: commands carry the id alone, because the host may be the
// attacker's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit/request.h"

namespace warden {

inline constexpr char kIncidentOpenKind[] = "incident-open";
inline constexpr char kIncidentCloseKind[] = "incident-close";
inline constexpr char kIncidentNoteKind[] = "incident-note";

inline constexpr std::size_t kMaxIncidentSummary = 4096;
inline constexpr std::size_t kMaxIncidentNote = 16384;

bool isIncidentKind(std::string_view kind);

// What an incident request asks for. Open: id, codename, severity (1 most severe .. 5) and an
// optional summary. Close: id. Note: id and text.
struct IncidentChange {
  std::string kind;
  std::string id;
  std::string codename;
  int severity = 0;
  std::string summary;
  std::string text;
};

// "i-" + 16 lower-case hex digits, made by the CLI like a request id.
bool validIncidentId(std::string_view id);
// Lower-case words of letters joined by single '-', 3 to 40 characters, e.g. sapphire-unicorn.
absl::Status validCodename(std::string_view codename);

// Strict: an incident kind, no hosts or addresses, exactly the arguments its kind takes.
absl::StatusOr<IncidentChange> incidentChangeOf(const Request& r);
// The request arguments of `c` ("key=value"), in the order incidentChangeOf reads them.
std::vector<std::string> incidentChangeArgs(const IncidentChange& c);

// An innocuous adjective-noun codename picked by `random` (any bytes; 4 are used). The word
// lists hold colours, stones, weather and calm nature words and gentle animals and things:
// no pair reads as alarming, names a real attack or blames anyone.
std::string codenameFrom(std::string_view random);
// How many distinct codenames codenameFrom() can make.
std::size_t codenameCount();

}  // namespace warden
