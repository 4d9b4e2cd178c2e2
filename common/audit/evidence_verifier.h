// Offline verification of evidence items (`warden audit verify EXPORT --evidence FILE`): an
// auditor holding copies of the evidence store's files and an action log export checks, without
// the controller, that each item is what the agent read and signed for and what the log says.
//
// An item is the set of files the evidence store keeps (controller/evidence/store.h): the
// content (ID.img, ID.img.zst — a sequence of zstd frames holding the image — or ID.tar.zst, a
// triage bundle stored as it came) and ID.manifest (the agent's manifest, exactly as signed,
// then "signature BASE64"). Either file may be named; the other is found beside it. The checks:
//   - manifest:  it parses and names its evidence id, action, host and content SHA-256;
//   - receipt:   the verified log holds the agent's signed RECEIPT of that action, from that
//                host, naming this manifest's SHA-256 and the same content SHA-256 (and the
//                controller's own hash of what it received, the same);
//   - signature: the manifest is signed by the receipt key the log had recorded for the host
//                when the receipt was logged;
//   - content:   the content file re-read (decompressed for ID.img.zst) has the manifest's
//                size and SHA-256.
// The log itself must verify (common/audit/export_verifier.h) for any of this to mean anything: the
// receipts and keys are collected while it is verified, through AuditVerifyOptions::on_entry.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit/log_entry.h"

namespace warden {

// What the evidence checks need from the log: the receipts of the wanted actions and the
// agent key each host had when its receipt was logged. Fed every entry in log order.
class EvidenceLogIndex {
 public:
  explicit EvidenceLogIndex(std::set<std::string> action_ids) : wanted_(std::move(action_ids)) {}
  void observe(std::uint64_t index, const LogEntry& e);

  struct Receipt {
    std::uint64_t index = 0;
    std::string host_id;
    std::map<std::string, std::string> details;
    std::string agent_key;  // raw Ed25519 receipt key of the host at that point of the log
  };
  // The receipt of `action_id`, if the log has one.
  const Receipt* receipt(const std::string& action_id) const;

 private:
  std::set<std::string> wanted_;
  std::map<std::string, std::string> agent_keys_;  // host -> current receipt key
  std::map<std::string, Receipt> receipts_;        // action id -> its receipt
};

struct EvidenceCheck {
  std::string name;  // "manifest", "receipt", "signature", "content"
  bool ok = false;
  std::string detail;
};

struct EvidenceFiles {
  std::string manifest_path;
  std::string content_path;
  bool compressed_image = false;  // ID.img.zst: the content is the decompressed frames
};

// Finds the item's two files from either of them (see above). InvalidArgument when `path` is
// not named as the store names its files, NotFound when the other file is not beside it.
absl::StatusOr<EvidenceFiles> locateEvidenceFiles(const std::string& path);

// The action an evidence id belongs to ("a-0123456789abcdef-2" -> "a-0123456789abcdef").
std::string evidenceActionId(const std::string& evidence_id);
// The evidence id a store file is named after (its name without the store's suffix), or "".
std::string evidenceIdOfFile(const std::string& path);

struct EvidenceVerdict {
  std::string evidence_id;
  EvidenceFiles files;
  std::vector<EvidenceCheck> checks;
  bool ok = false;
  std::uint64_t size = 0;  // content bytes
  std::string sha256;      // hex, of the content as re-read
  std::int64_t receipt_index = -1;
};

// Checks one item against the receipts and keys collected from a verified log. A Status error
// only when the files cannot be found or read at all; everything they get wrong (a zstd stream
// that does not decode included) is a verdict with ok == false.
absl::StatusOr<EvidenceVerdict> verifyEvidenceFiles(const EvidenceFiles& files,
                                                    const EvidenceLogIndex& log);

}  // namespace warden
