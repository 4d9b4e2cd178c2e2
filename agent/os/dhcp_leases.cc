#include "agent/os/dhcp_leases.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

constexpr std::size_t kMaxLeaseBytes = 64 * 1024;
constexpr int kMaxFilesPerDir = 64;

// A unicast IPv4 address a DHCP server can have: not 0/8, loopback, multicast or broadcast.
bool plausibleServer(const IpPrefix& p) {
  if (!p.isV4() || !p.isHost()) return false;
  const int first = p.addr[0];
  return first != 0 && first != 127 && first < 224;
}

void addServer(std::vector<IpPrefix>* out, absl::string_view text) {
  if (out->size() >= kMaxDhcpServers) return;
  text = absl::StripAsciiWhitespace(text);
  // IpPrefix::parse takes CIDR too; a server is a bare dotted quad.
  if (text.empty() || text.size() > 15 || !std::all_of(text.begin(), text.end(), [](char c) {
        return absl::ascii_isdigit(c) || c == '.';
      })) {
    return;
  }
  auto p = IpPrefix::parse(std::string_view(text.data(), text.size()));
  if (!p.ok() || !plausibleServer(*p)) return;
  if (std::find(out->begin(), out->end(), *p) == out->end()) out->push_back(*p);
}

// At most kMaxLeaseBytes of a regular file, without following a symlink or blocking on a
// FIFO an attacker put in its place.
std::string readBounded(int dir_fd, const char* name) {
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  std::string data(kMaxLeaseBytes, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

// dhclient and NetworkManager name theirs *.lease / *.leases; systemd-networkd by interface
// index. Anything else in those directories (NetworkManager's secret_key) is not read.
bool leaseFileName(absl::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  if (std::all_of(name.begin(), name.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return true;
  }
  return absl::EndsWith(name, ".lease") || absl::EndsWith(name, ".leases");
}

}  // namespace

std::vector<IpPrefix> parseDhcpLeaseServers(std::string_view text) {
  std::vector<IpPrefix> out;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    if (out.size() >= kMaxDhcpServers) break;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (absl::ConsumePrefix(&line, "SERVER_ADDRESS=")) {
      addServer(&out, line);
    } else if (absl::ConsumePrefix(&line, "option dhcp-server-identifier")) {
      if (line.empty() || !absl::ascii_isspace(static_cast<unsigned char>(line.front()))) continue;
      if (!absl::ConsumeSuffix(&line, ";")) continue;
      addServer(&out, line);
    }
  }
  return out;
}

std::vector<std::string> defaultDhcpLeaseDirs() {
  return {"/run/systemd/netif/leases", "/var/lib/dhcp", "/var/lib/dhclient",
          "/var/lib/NetworkManager"};
}

std::vector<IpPrefix> dhcpServersFromLeases(const std::vector<std::string>& dirs) {
  std::vector<IpPrefix> out;
  for (const std::string& dir : dirs) {
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.ok()) continue;
    const int dup_fd = ::dup(dfd.get());
    if (dup_fd < 0) continue;
    DIR* d = ::fdopendir(dup_fd);
    if (d == nullptr) {
      ::close(dup_fd);
      continue;
    }
    int files = 0;
    while (dirent* e = ::readdir(d)) {
      if (!leaseFileName(e->d_name)) continue;
      if (++files > kMaxFilesPerDir) break;
      for (const IpPrefix& p : parseDhcpLeaseServers(readBounded(dfd.get(), e->d_name))) {
        if (out.size() < kMaxDhcpServers && std::find(out.begin(), out.end(), p) == out.end()) {
          out.push_back(p);
        }
      }
    }
    ::closedir(d);
  }
  return out;
}

}  // namespace warden
