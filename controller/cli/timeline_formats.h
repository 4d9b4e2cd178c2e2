// The timeline's file formats (DESIGN.md "Incidents, the timeline and the post-mortem"):
// Timesketch's JSONL and CSV (message, datetime, timestamp_desc, then Warden's columns), a
// Markdown table for the post-mortem, and OCSF 1.1 events for a SIEM. Every text field can hold
// what a host wrote (a killed process's command line), so each writer escapes for its reader:
// JSON by the encoder, CSV by RFC 4180 quoting plus a guard against spreadsheet formulas,
// Markdown by backslash escapes and no line breaks.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/cli/timeline_events.h"

namespace warden::cli {

enum class TimelineFormat { kJsonl, kCsv, kMarkdown, kOcsf };

absl::StatusOr<TimelineFormat> parseTimelineFormat(std::string_view name);

// One JSON object on one line, ending in '\n'.
std::string timelineJsonLine(const TimelineEvent& ev);
std::string timelineCsvHeader();
std::string timelineCsvRow(const TimelineEvent& ev);
// A Markdown table: time (UTC) | event | host | by | proof (`warden audit prove N`).
std::string timelineMarkdown(const std::vector<TimelineEvent>& events);
// The event as an OCSF 1.1 event on one line: Remediation Activity (7001) for a containment
// action's receipt, Account Change (3001) for an account locked, unlocked or rotated;
// nullopt for events OCSF has no class for here (requests, dispatches, notes).
std::optional<std::string> ocsfLine(const TimelineEvent& ev);

// The whole file in `format`.
std::string formatTimeline(TimelineFormat format, const std::vector<TimelineEvent>& events);

// Text for a Markdown table cell: one line, Markdown and HTML punctuation escaped.
std::string markdownCell(std::string_view text);

}  // namespace warden::cli
