#include "agent/os/linux/triage/tar_header.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/json.h"

namespace warden::triage {
namespace {

bool fitsOctal(std::uint64_t v, std::size_t width) {
  return v < (std::uint64_t{1} << (3 * (width - 1)));
}

// width - 1 octal digits and a NUL, as ustar numeric fields are written.
void putOctal(char* field, std::size_t width, std::uint64_t v) {
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  field[width - 1] = '\0';
}

// One ustar header. Values that do not fit are left out here; tarHeaders() puts them in a pax
// header first.
std::string ustarHeader(const TarEntry& e) {
  std::string h(kBlock, '\0');
  char* b = h.data();
  std::memcpy(b, e.name.data(), std::min<std::size_t>(e.name.size(), 100));
  putOctal(b + 100, 8, e.mode & 07777);
  putOctal(b + 108, 8, fitsOctal(e.uid, 8) ? e.uid : 0);
  putOctal(b + 116, 8, fitsOctal(e.gid, 8) ? e.gid : 0);
  putOctal(b + 124, 12, fitsOctal(e.size, 12) ? e.size : 0);
  const std::uint64_t mtime = e.mtime < 0 ? 0 : static_cast<std::uint64_t>(e.mtime);
  putOctal(b + 136, 12, fitsOctal(mtime, 12) ? mtime : 0);
  std::memset(b + 148, ' ', 8);
  b[156] = e.type;
  std::memcpy(b + 157, e.link.data(), std::min<std::size_t>(e.link.size(), 100));
  std::memcpy(b + 257, "ustar", 6);  // magic, NUL-terminated
  std::memcpy(b + 263, "00", 2);     // version
  putOctal(b + 329, 8, 0);           // devmajor
  putOctal(b + 337, 8, 0);           // devminor
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(b + 148, 8, "%06o", sum);  // six digits, NUL, and the space left in place
  b[155] = ' ';
  return h;
}

// "LEN key=value\n", LEN counting the whole record, itself included.
std::string paxRecord(const std::string& key, const std::string& value) {
  const std::size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t len = body;
  for (;;) {
    const std::size_t next = body + std::to_string(len).size();
    if (next == len) break;
    len = next;
  }
  return absl::StrCat(len, " ", key, "=", value, "\n");
}

}  // namespace

std::string tarHeaders(const TarEntry& e) {
  std::string pax;
  const bool long_name = e.name.size() > 100;
  const bool long_link = e.link.size() > 100;
  if ((long_name && !validUtf8(e.name)) || (long_link && !validUtf8(e.link))) {
    pax += paxRecord("hdrcharset", "BINARY");
  }
  if (long_name) pax += paxRecord("path", e.name);
  if (long_link) pax += paxRecord("linkpath", e.link);
  if (!fitsOctal(e.size, 12)) pax += paxRecord("size", std::to_string(e.size));
  if (!fitsOctal(e.uid, 8)) pax += paxRecord("uid", std::to_string(e.uid));
  if (!fitsOctal(e.gid, 8)) pax += paxRecord("gid", std::to_string(e.gid));
  if (e.mtime < 0 || !fitsOctal(static_cast<std::uint64_t>(e.mtime), 12)) {
    pax += paxRecord("mtime", std::to_string(e.mtime));
  }
  std::string out;
  if (!pax.empty()) {
    std::string_view base = e.name;
    while (base.size() > 1 && base.back() == '/') base.remove_suffix(1);
    if (const std::size_t slash = base.rfind('/'); slash != std::string_view::npos) {
      base.remove_prefix(slash + 1);
    }
    TarEntry x;
    x.name = absl::StrCat("PaxHeaders/", std::string(base.substr(0, 89)));
    x.type = 'x';
    x.mode = 0644;
    x.mtime = std::max<std::int64_t>(0, std::min<std::int64_t>(e.mtime, 077777777777));
    x.size = pax.size();
    out += ustarHeader(x);
    out += pax;
    out.append((kBlock - pax.size() % kBlock) % kBlock, '\0');
  }
  out += ustarHeader(e);
  return out;
}

}  // namespace warden::triage
