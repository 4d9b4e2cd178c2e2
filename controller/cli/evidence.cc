#include "controller/cli/evidence.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/host_actions.h"
#include "controller/cli/pages.h"
#include "controller/cli/progress.h"
#include "controller/cli/render.h"

namespace warden::cli {

int imageCmd(const Globals& g, const std::string& host, const ImageArgs& ia) {
  std::vector<std::string> args;
  for (const auto& d : ia.devices) {
    if (d.empty() || d[0] != '/') {
      printError(absl::StrFormat("'%s' is not an absolute path on the host", d));
      return kExitBadInput;
    }
    args.push_back("device=" + d);
  }
  if (args.empty() && !ia.all_disks) {
    printError("name a DEVICE, or use --all-disks");
    return kExitBadInput;
  }
  if (ia.all_disks) args.push_back("all_disks=yes");
  if (!ia.compress.empty()) {
    if (ia.compress != "zstd" && ia.compress != "none") {
      printError(absl::StrFormat("unknown compression '%s' (zstd or none)", ia.compress));
      return kExitBadInput;
    }
    args.push_back("compress=" + ia.compress);
  }
  if (ia.rate_mb < 0) {
    printError("--rate must be positive");
    return kExitBadInput;
  }
  if (ia.rate_mb > 0) args.push_back(absl::StrFormat("rate=%g", ia.rate_mb));
  return hostAction(g, "image", host, args, ia.timeout, printEvidenceDetails);
}

int collectCmd(const Globals& g, const std::string& host, const CollectArgs& ca) {
  std::vector<std::string> args;
  if (ca.rate_mb < 0) {
    printError("--rate must be positive");
    return kExitBadInput;
  }
  if (ca.rate_mb > 0) args.push_back(absl::StrFormat("rate=%g", ca.rate_mb));
  if (!ca.max_member_mb.empty()) args.push_back("max_member_mb=" + ca.max_member_mb);
  if (!ca.max_total_mb.empty()) args.push_back("max_total_mb=" + ca.max_total_mb);
  return hostAction(g, "collect", host, args, ca.timeout, printEvidenceDetails);
}

int evidenceList(const Globals& g, const std::string& host) {
  v1::ListEvidenceRequest req;
  req.set_host_id(host);
  req.set_page_size(kListPageSize);
  return showList(g, &v1::Operator::Stub::ListEvidence, req, absl::Seconds(30), "items",
                  &v1::ListEvidenceResponse::items,
                  ListTable<v1::EvidenceItem>{printEvidenceListHeader, printEvidenceRow});
}

int evidenceShow(const Globals& g, const std::string& id) {
  v1::ShowEvidenceRequest req;
  req.set_id(id);
  return showAnswer(g, &v1::Operator::Stub::ShowEvidence, req, absl::Seconds(30), printEvidence);
}

int evidenceGet(const Globals& g, const std::string& id, const std::string& out_path) {
  if (out_path.empty()) {
    printError("evidence get needs --out FILE");
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    UniqueFd fd(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.ok()) {
      const absl::Status st = errnoStatus(errno, absl::StrFormat("cannot create %s", out_path));
      printError(std::string(st.message()));
      return absl::IsAlreadyExists(st) ? kExitBadInput : kExitFailed;
    }
    bool keep = false;
    absl::Cleanup cleanup = [&] {
      fd.reset();
      if (!keep) (void)::unlink(out_path.c_str());
    };
    v1::ShowEvidenceRequest req;
    req.set_id(id);
    grpc::ClientContext ctx;
    auto reader = c.stub->GetEvidence(&ctx, req);
    v1::EvidenceData d;
    v1::EvidenceItem item;
    crypto::Sha256 hash;
    std::uint64_t written = 0;
    ProgressLine line;
    const bool tty = !g.json && isatty(STDERR_FILENO);
    while (reader->Read(&d)) {
      if (d.has_item()) item = d.item();
      const std::string& data = d.data();
      if (!pwriteFully(fd.get(), data, written)) {
        printError(std::string(errnoStatus(errno, "writing " + out_path).message()));
        ctx.TryCancel();
        (void)reader->Finish();
        return kExitFailed;
      }
      hash.update(data);
      written += data.size();
      if (tty) {
        v1::EvidenceItem shown = item;
        shown.set_total(item.size());
        shown.set_size(written);
        shown.set_state("receiving");
        line.update(shown);
      }
    }
    auto s = reader->Finish();
    line.finishLine();
    if (!s.ok()) return reportRpcError(s);
    if (::fsync(fd.get()) != 0) {
      printError(std::string(errnoStatus(errno, "syncing " + out_path).message()));
      return kExitFailed;
    }
    const std::string got = crypto::hex(hash.finish());
    if (written != item.size() || got != item.sha256()) {
      printError(absl::StrFormat(
          "%s: received %d bytes with sha256 %s, but the record says %d bytes with %s; removed", id,
          written, got, item.size(), item.sha256()));
      return kExitFailed;
    }
    keep = true;
    (void)::fchmod(fd.get(), 0444);
    if (g.json) {
      const Json out = {{"evidence_id", id}, {"out", out_path}, {"size", written}, {"sha256", got}};
      std::printf("%s\n", jsonLine(out).c_str());
    } else {
      std::printf("%s: %llu bytes written to %s, sha256 %s (matches the record)\n", id.c_str(),
                  static_cast<unsigned long long>(written), out_path.c_str(), got.c_str());
    }
    return kExitOk;
  });
}

int evidenceVerify(const Globals& g, const std::string& id) {
  v1::ShowEvidenceRequest req;
  req.set_id(id);
  auto show = [&](Client&, const v1::VerifyEvidenceResponse& resp) {
    if (g.json) {
      printMessageJson(resp);
      return resp.ok() ? kExitOk : kExitFailed;
    }
    printEvidenceChecks(resp);
    if (!resp.ok()) {
      std::fprintf(stderr, "warden: evidence %s does NOT verify\n", id.c_str());
      return kExitFailed;
    }
    std::printf(
        "evidence %s verified: content, stored file, agent's manifest and the logged "
        "receipt agree\n",
        id.c_str());
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::VerifyEvidence, req, absl::Hours(24), show);
}

}  // namespace warden::cli
