#include "controller/evidence/custody_check.h"

#include <string>

#include "absl/strings/str_format.h"
#include "common/audit/log_entry.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "controller/evidence/immutable_attribute.h"
#include "controller/evidence/manifest.h"

namespace warden {

bool checkCustody(const StoredEvidence& item, const EvidenceStore& store, Registry& registry,
                  const ActionLog& log, v1::VerifyEvidenceResponse* resp) {
  const EvidenceRecord& r = item.record;
  const std::string& id = item.id;
  resp->set_receipt_log_index(-1);
  bool all = true;
  auto check = [&](const char* name, bool ok, const std::string& detail) {
    auto* c = resp->add_checks();
    c->set_name(name);
    c->set_ok(ok);
    c->set_detail(detail);
    all = all && ok;
  };
  // 1. The stored bytes, re-read now.
  auto m = store.measure(id);
  if (!m.ok()) {
    check("stored file", false, std::string(m.status().message()));
  } else {
    check("stored file", m->stored_size == r.stored_size && m->stored_sha256 == r.stored_sha256,
          absl::StrFormat("%s: %d bytes, sha256 %s (recorded %d bytes, %s)", r.stored_name,
                          m->stored_size, crypto::hex(m->stored_sha256), r.stored_size,
                          crypto::hex(r.stored_sha256)));
    check("content",
          m->size == r.size && m->sha256 == r.controller_sha256 &&
              r.controller_sha256 == r.agent_sha256,
          absl::StrFormat("%d bytes, sha256 %s (recorded %d bytes, %s)", m->size,
                          crypto::hex(m->sha256), r.size, crypto::hex(r.controller_sha256)));
  }
  std::string why;
  const bool immutable_now = isImmutable(item.path, &why);
  check("read-only", !r.immutable || immutable_now,
        r.immutable ? (immutable_now ? "immutable attribute set"
                                     : "the immutable attribute was lifted since it was stored")
                    : "mode 0444; the file system or the controller's capabilities did not "
                      "allow the immutable attribute");
  // 2. The agent's signed manifest.
  auto host = registry.findHost(r.host_id);
  auto manifest = store.manifest(id);
  if (!host.ok() || !manifest.ok()) {
    check("manifest", false,
          std::string(!host.ok() ? host.status().message() : manifest.status().message()));
  } else {
    const bool signed_ok =
        crypto::ed25519Verify(host->receipt_public_key, manifest->first, manifest->second).ok();
    auto facts = readManifest(manifest->first);
    const std::string named = facts.ok() ? facts->sha256 : "";
    check("manifest",
          signed_ok && crypto::sha256(manifest->first) == r.manifest_sha256 &&
              named == crypto::hex(r.agent_sha256),
          absl::StrFormat("signed by %s's receipt key: %s; sha256 %s; names content %s", r.host_id,
                          signed_ok ? "yes" : "NO", crypto::hex(crypto::sha256(manifest->first)),
                          named));
  }
  // 3. The agent's signed receipt, as the action log holds it.
  auto action = registry.findAction(r.action_id);
  if (!action.ok() || action->receipt.empty() || !host.ok()) {
    check("receipt", false, "the action has no receipt");
    return all;
  }
  auto receipt = decodeReceipt(action->receipt);
  const bool sig =
      crypto::ed25519Verify(host->receipt_public_key, action->receipt, action->receipt_signature)
          .ok();
  auto detail = [&](const std::string& key) {
    if (!receipt.ok()) return std::string();
    auto it = receipt->details.find(r.id + "." + key);
    return it == receipt->details.end() ? std::string() : it->second;
  };
  check("receipt",
        // Per item: in an action that imaged several devices, one failed device does not undo
        // the others.
        sig && receipt.ok() && detail("sha256") == crypto::hex(r.agent_sha256) &&
            detail("controller_sha256") == crypto::hex(r.controller_sha256) &&
            detail("manifest_sha256") == crypto::hex(r.manifest_sha256),
        absl::StrFormat("action %s, signed by the agent: %s; names sha256 %s, manifest %s",
                        r.action_id, sig ? "yes" : "NO", detail("sha256"),
                        detail("manifest_sha256")));
  std::int64_t index = -1;
  for (std::uint64_t i = action->log_index < 0 ? 0 : action->log_index; i < log.size() && index < 0;
       ++i) {
    auto bytes = log.entry(i);
    if (!bytes.ok()) break;
    auto e = decodeLogEntry(*bytes);
    if (e.ok() && e->type == entry_type::kReceipt && e->ref == r.action_id &&
        e->body == action->receipt && e->signature == action->receipt_signature) {
      index = static_cast<std::int64_t>(i);
    }
  }
  resp->set_receipt_log_index(index);
  check("action log", index >= 0,
        index >= 0
            ? absl::StrFormat("RECEIPT entry %d ('warden audit prove %d' proves it)", index, index)
            : "no RECEIPT entry of the action carries this receipt");
  return all;
}

}  // namespace warden
