// commands/lastlog.json. lastlog(8)'s file is indexed by uid (record uid at uid * 292 bytes),
// so one high uid (nfsnobody, a container's 100000+) makes a sparse file of gigabytes. The raw
// file is a member like any other (cut at the limit; its holes read as zeros); this table
// lists the records that are not all zero, found with SEEK_DATA/SEEK_HOLE (lseek(2)) so holes
// are never read, scanning at most kMaxLastlogScanBytes of data.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utmp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/json_fields.h"

namespace warden::triage {
namespace {

constexpr std::uint64_t kMaxLastlogScanBytes = 256ull << 20;  // data extents, holes skipped

Json lastlogRecord(std::uint64_t uid, const struct lastlog& ll) {
  Json r;
  r["uid"] = uid;
  r["time"] = rfc3339(absl::FromUnixSeconds(ll.ll_time));
  putText(r, "line", std::string(ll.ll_line, ::strnlen(ll.ll_line, sizeof(ll.ll_line))));
  putText(r, "host", std::string(ll.ll_host, ::strnlen(ll.ll_host, sizeof(ll.ll_host))));
  return r;
}

}  // namespace

absl::Status addLastlogRecords(Bundle& bundle, const TriageRoot& root) {
  const UniqueFd fd(root.openPath("/var/log/lastlog", O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return absl::OkStatus();
  constexpr std::size_t kRecord = sizeof(struct lastlog);
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  bool scan_cut = false;
  WARDEN_RETURN_IF_ERROR(bundle.addJsonTable(
      "commands/lastlog.json", "/var/log/lastlog (records that are not empty)", "records",
      [&](const Bundle::AddRecord& add) {
        std::size_t all = 0;
        std::uint64_t scanned = 0;
        std::vector<char> buf(kRecord * 3591);  // ~1 MiB of whole records
        off_t off = 0;
        while (static_cast<std::uint64_t>(off) < size) {
          const off_t data = ::lseek(fd.get(), off, SEEK_DATA);
          if (data < 0) break;  // ENXIO: no data after `off`
          off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
          if (hole < 0) hole = static_cast<off_t>(size);
          std::uint64_t pos = static_cast<std::uint64_t>(data) / kRecord * kRecord;
          while (pos < static_cast<std::uint64_t>(hole)) {
            if (scanned >= kMaxLastlogScanBytes) {
              scan_cut = true;
              return all;
            }
            const ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(pos));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return all;
            scanned += static_cast<std::uint64_t>(n);
            for (std::size_t i = 0; i + kRecord <= static_cast<std::size_t>(n); i += kRecord) {
              if (std::all_of(buf.data() + i, buf.data() + i + kRecord,
                              [](char c) { return c == 0; })) {
                continue;
              }
              struct lastlog ll;
              std::memcpy(&ll, buf.data() + i, kRecord);
              ++all;
              add(lastlogRecord((pos + i) / kRecord, ll));
            }
            pos += static_cast<std::uint64_t>(n) / kRecord * kRecord;
            if (static_cast<std::size_t>(n) < kRecord) break;
          }
          off = static_cast<off_t>(std::max<std::uint64_t>(pos, static_cast<std::uint64_t>(hole)));
        }
        return all;
      }));
  if (scan_cut) {
    bundle.noteLimit(absl::StrFormat(
        "commands/lastlog.json: only the first %d bytes of data in /var/log/lastlog were scanned",
        kMaxLastlogScanBytes));
  }
  return absl::OkStatus();
}

}  // namespace warden::triage
