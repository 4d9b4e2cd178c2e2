// Receipt bounds (DESIGN.md "The hostile host", "Host actions semantics"): every receipt fits
// the gRPC message limit. A host decides how many processes run and how long their command lines
// are; a receipt that grew with them could never be delivered, and the command's re-delivery
// would answer with the same undeliverable receipt forever, blocking every later command to the
// host. The agent bounds each receipt before it signs it, so the signed bytes are the delivered
// bytes and the action log verifies; the controller refuses anything larger.
//
// What is cut is said, never dropped silently: strings end in a marker naming their full size,
// lists of processes, survivors, sessions and account changes keep a prefix and count the rest in
// the result's `unlisted_*` fields (proto/warden/v1/results.proto).
#pragma once

#include <cstddef>
#include <string>

#include "common/command.h"

namespace warden {

// The encoded (canonical) receipt, signature and envelope not included.
inline constexpr std::size_t kMaxReceiptBytes = 2 << 20;
// details["result"]: base64 of the action's result message.
inline constexpr std::size_t kMaxResultDetailBytes = 1 << 20;
// One string the host supplied inside a result: a command line, an executable path, a user name.
inline constexpr std::size_t kMaxHostStringBytes = 1024;
// The receipt's message and each other detail value. Large enough for what the agent writes
// itself: an isolate's "applied" is the whole ruleset (~6 KiB, more with many interfaces), which
// an auditor recomputes installed_sha256 from.
inline constexpr std::size_t kMaxReceiptTextBytes = 64 << 10;

// Where the structured result travels (agent/actions/outcome.h kResultDetail).
inline constexpr char kReceiptResultDetail[] = "result";
// Set when whole details had to go to fit kMaxReceiptBytes: how many.
inline constexpr char kDroppedDetailsDetail[] = "dropped_details";
// Starts the marker a truncated string ends with: "...[truncated: N bytes]".
inline constexpr char kTruncationMarker[] = "...[truncated: ";

struct ReceiptLimits {
  std::size_t receipt_bytes = kMaxReceiptBytes;
  std::size_t result_bytes = kMaxResultDetailBytes;
  std::size_t host_string_bytes = kMaxHostStringBytes;
  std::size_t text_bytes = kMaxReceiptTextBytes;
};

// What boundReceipt changed.
struct ReceiptTrim {
  std::size_t bytes_before = 0;  // encoded receipt
  std::size_t bytes_after = 0;
  std::size_t strings_cut = 0;
  std::size_t entries_unlisted = 0;  // processes, survivors, sessions, account changes
  std::size_t details_dropped = 0;
  bool changed() const { return strings_cut + entries_unlisted + details_dropped > 0; }
};

// `s` cut to at most `max` bytes, ending in the marker, on a UTF-8 character boundary; `s`
// itself when it fits.
std::string boundString(const std::string& s, std::size_t max);

// Cuts `r` until encodeReceipt(r) fits `limits.receipt_bytes`: host strings inside the result of
// the kinds it knows (sessions, kill-sessions, lock-accounts, unlock-accounts, revoke-keys,
// restore-keys), then the result's
// lists, then the message and other details, and as the last resort whole details (largest
// first). Deterministic: the same receipt is always cut the same way.
ReceiptTrim boundReceipt(Receipt& r, const ReceiptLimits& limits = {});

}  // namespace warden
