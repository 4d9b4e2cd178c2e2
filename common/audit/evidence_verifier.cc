// See evidence_verifier.h.
#include "common/audit/evidence_verifier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "common/audit/key_record.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

// The content suffixes of complete items, longest first.
constexpr const char* kContentSuffixes[] = {".img.zst", ".tar.zst", ".img"};
constexpr char kManifestSuffix[] = ".manifest";

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct Hashed {
  std::uint64_t size = 0;
  std::string sha256;  // raw
};

// SHA-256 and size of the file's bytes, or of what its zstd frames hold.
absl::StatusOr<Hashed> hashContent(const std::string& path, bool decompress) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return errnoStatus("open", path, errno);
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(
      decompress ? ZSTD_createDCtx() : nullptr, &ZSTD_freeDCtx);
  std::string in(1 << 20, '\0');
  std::string out(ZSTD_DStreamOutSize(), '\0');
  crypto::Sha256 hash;
  Hashed h;
  std::size_t last_hint = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), in.data(), in.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoStatus("read", path, errno);
    if (n == 0) break;
    if (!decompress) {
      hash.update(std::string_view(in.data(), static_cast<std::size_t>(n)));
      h.size += static_cast<std::uint64_t>(n);
      continue;
    }
    ZSTD_inBuffer src{in.data(), static_cast<std::size_t>(n), 0};
    while (src.pos < src.size) {
      ZSTD_outBuffer dst{out.data(), out.size(), 0};
      last_hint = ZSTD_decompressStream(dctx.get(), &dst, &src);
      if (ZSTD_isError(last_hint)) {
        return absl::DataLossError(absl::StrFormat("%s: not a valid zstd stream at byte %d: %s",
                                                   path, h.size, ZSTD_getErrorName(last_hint)));
      }
      hash.update(std::string_view(out.data(), dst.pos));
      h.size += dst.pos;
    }
  }
  if (decompress && last_hint != 0) {
    return absl::DataLossError(absl::StrFormat("%s: the last zstd frame is cut short", path));
  }
  h.sha256 = hash.finish();
  return h;
}

// A string member of the manifest, or "" when it is missing or not a string.
std::string textField(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void EvidenceLogIndex::observe(std::uint64_t index, const LogEntry& e) {
  if (e.type == entry_type::kEnrollment) {
    auto k = decodeKeyRecord(e.body);
    if (k.ok()) agent_keys_[e.host_id] = k->public_key;
    return;
  }
  if (e.type != entry_type::kReceipt || !wanted_.contains(e.ref)) return;
  auto r = decodeReceipt(e.body);
  if (!r.ok()) return;  // the log verifier names it
  Receipt& out = receipts_[e.ref];
  out.index = index;
  out.host_id = e.host_id;
  out.details = std::move(r->details);
  auto key = agent_keys_.find(e.host_id);
  out.agent_key = key == agent_keys_.end() ? "" : key->second;
}

const EvidenceLogIndex::Receipt* EvidenceLogIndex::receipt(const std::string& action_id) const {
  auto it = receipts_.find(action_id);
  return it == receipts_.end() ? nullptr : &it->second;
}

std::string evidenceIdOfFile(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  for (const char* suffix : kContentSuffixes) {
    if (absl::EndsWith(name, suffix) && name.size() > std::strlen(suffix)) {
      return name.substr(0, name.size() - std::strlen(suffix));
    }
  }
  if (absl::EndsWith(name, kManifestSuffix) && name.size() > std::strlen(kManifestSuffix)) {
    return name.substr(0, name.size() - std::strlen(kManifestSuffix));
  }
  return "";
}

std::string evidenceActionId(const std::string& evidence_id) {
  const std::size_t dash = evidence_id.rfind('-');
  return dash == std::string::npos ? evidence_id : evidence_id.substr(0, dash);
}

absl::StatusOr<EvidenceFiles> locateEvidenceFiles(const std::string& path) {
  const std::string id = evidenceIdOfFile(path);
  if (id.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: name an evidence file as the store names it (ID.img, ID.img.zst, ID.tar.zst or "
        "ID.manifest), with the other files of the item beside it",
        path));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const std::string base = (dir.empty() ? std::string() : dir + "/") + id;
  EvidenceFiles f;
  f.manifest_path = base + kManifestSuffix;
  if (!absl::EndsWith(path, kManifestSuffix)) {
    f.content_path = path;
  } else {
    for (const char* suffix : kContentSuffixes) {
      if (exists(base + suffix)) {
        f.content_path = base + suffix;
        break;
      }
    }
    if (f.content_path.empty()) {
      return absl::NotFoundError(absl::StrFormat(
          "%s: no content beside it (%s.img, %s.img.zst or %s.tar.zst)", path, id, id, id));
    }
  }
  if (!exists(f.content_path)) {
    return absl::NotFoundError(absl::StrFormat("%s: no such file", f.content_path));
  }
  if (!exists(f.manifest_path)) {
    return absl::NotFoundError(
        absl::StrFormat("%s: no such file (the manifest of %s belongs beside it)", f.manifest_path,
                        f.content_path));
  }
  f.compressed_image = absl::EndsWith(f.content_path, ".img.zst");
  return f;
}

absl::StatusOr<EvidenceVerdict> verifyEvidenceFiles(const EvidenceFiles& files,
                                                    const EvidenceLogIndex& log) {
  EvidenceVerdict v;
  v.files = files;
  v.evidence_id = evidenceIdOfFile(files.content_path);
  auto check = [&](const char* name, bool ok, const std::string& detail) {
    v.checks.push_back(EvidenceCheck{name, ok, detail});
  };

  // The manifest: exact signed bytes, then its signature line.
  WARDEN_ASSIGN_OR_RETURN(std::string text, readFile(files.manifest_path));
  const std::string marker = "\nsignature ";
  const std::size_t at = text.rfind(marker);
  std::string signed_bytes, signature, host_id, action_id, named_sha;
  std::uint64_t named_size = 0;
  bool manifest_ok = false;
  std::string why;
  if (at == std::string::npos || !text.ends_with("\n")) {
    why = "no signature line at its end";
  } else {
    signed_bytes = text.substr(0, at);
    auto sig =
        crypto::unbase64(text.substr(at + marker.size(), text.size() - at - marker.size() - 1));
    auto parsed = parseJson(signed_bytes, "it");
    if (!parsed.ok()) {
      why = std::string(parsed.status().message());
    } else {
      const Json& m = *parsed;
      const std::string id = textField(m, "evidence_id");
      action_id = textField(m, "action_id");
      host_id = textField(m, "host_id");
      named_sha = textField(m, "sha256");
      if (const auto source = m.find("source"); source != m.end()) {
        const auto size = source->find("size_bytes");
        if (size != source->end() && size->is_number_unsigned()) {
          named_size = size->get<std::uint64_t>();
        }
      }
      if (!sig.ok()) {
        why = absl::StrFormat("its signature is not base64: %s", sig.status().message());
      } else if (id.empty() || action_id.empty() || host_id.empty() || named_sha.size() != 64) {
        why = "it lacks the evidence id, action, host or content SHA-256";
      } else if (!v.evidence_id.empty() && id != v.evidence_id) {
        why = absl::StrFormat("it is the manifest of %s, not of %s", id, v.evidence_id);
      } else {
        signature = *sig;
        v.evidence_id = id;
        manifest_ok = true;
      }
    }
  }
  const std::string manifest_sha = crypto::hex(crypto::sha256(signed_bytes));
  check("manifest", manifest_ok,
        manifest_ok ? absl::StrFormat("%s of action %s on %s, sha256 %s", v.evidence_id, action_id,
                                      host_id, manifest_sha)
                    : absl::StrFormat("%s: %s", files.manifest_path, why));

  // The receipt in the verified log.
  const EvidenceLogIndex::Receipt* r =
      manifest_ok ? log.receipt(action_id) : log.receipt(evidenceActionId(v.evidence_id));
  auto detail = [&](const std::string& key) {
    if (r == nullptr) return std::string();
    auto it = r->details.find(v.evidence_id + "." + key);
    return it == r->details.end() ? std::string() : it->second;
  };
  if (r == nullptr) {
    check("receipt", false,
          absl::StrFormat("the log has no receipt of action %s",
                          manifest_ok ? action_id : evidenceActionId(v.evidence_id)));
  } else {
    v.receipt_index = static_cast<std::int64_t>(r->index);
    const bool ok = manifest_ok && r->host_id == host_id &&
                    detail("manifest_sha256") == manifest_sha && detail("sha256") == named_sha &&
                    detail("controller_sha256") == named_sha;
    check("receipt", ok,
          absl::StrFormat("RECEIPT entry %d from %s names manifest %s, content %s, controller's "
                          "hash %s",
                          r->index, r->host_id, detail("manifest_sha256"), detail("sha256"),
                          detail("controller_sha256")));
  }

  // The agent's signature on the manifest, under the key the log holds for its host.
  if (!manifest_ok || r == nullptr || r->agent_key.empty()) {
    check("signature", false,
          r != nullptr && r->agent_key.empty()
              ? absl::StrFormat("the log records no key for %s before its receipt", r->host_id)
              : std::string("nothing to check it against"));
  } else {
    const bool ok = crypto::ed25519Verify(r->agent_key, signed_bytes, signature).ok();
    check("signature", ok,
          absl::StrFormat("%s by %s's receipt key as the log recorded it",
                          ok ? "signed" : "NOT signed", host_id));
  }

  // The content, re-read.
  auto h = hashContent(files.content_path, files.compressed_image);
  if (!h.ok() && h.status().code() != absl::StatusCode::kDataLoss) {
    return h.status();  // could not be read at all: no verdict
  }
  if (!h.ok()) {
    check("content", false, std::string(h.status().message()));
  } else {
    v.size = h->size;
    v.sha256 = crypto::hex(h->sha256);
    const bool ok = manifest_ok && v.sha256 == named_sha && v.size == named_size;
    check("content", ok,
          absl::StrFormat("%s%s: %d bytes, sha256 %s (manifest: %d bytes, %s)", files.content_path,
                          files.compressed_image ? " decompressed" : "", v.size, v.sha256,
                          named_size, named_sha));
  }
  v.ok = true;
  for (const auto& c : v.checks) v.ok = v.ok && c.ok;
  return v;
}

}  // namespace warden
