#include "common/net.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warden {
namespace {

// Debian's abseil has its own absl::string_view, so numbers are parsed with from_chars.
template <typename T>
bool parseNumber(std::string_view text, T* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

absl::StatusOr<std::uint16_t> parsePort(std::string_view text, std::string_view whole) {
  std::uint32_t port = 0;
  if (text.empty() || !parseNumber(text, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port '", std::string(text), "' in '",
                                                   std::string(whole), "' (expected 1-65535)"));
  }
  return static_cast<std::uint16_t>(port);
}

}  // namespace

bool IpPrefix::isV4() const { return family == AF_INET; }

absl::StatusOr<IpPrefix> IpPrefix::parse(std::string_view text) {
  IpPrefix p;
  std::string_view addr_part = text;
  std::string_view len_part;
  bool has_len = false;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr_part = text.substr(0, slash);
    len_part = text.substr(slash + 1);
    has_len = true;
  }
  std::string addr_str(addr_part);
  if (addr_str.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid address '", std::string(text), "': empty"));
  }
  if (inet_pton(AF_INET, addr_str.c_str(), p.addr.data()) == 1) {
    p.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr_str.c_str(), p.addr.data()) == 1) {
    p.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid address '", std::string(text), "': not an IPv4 or IPv6 address"));
  }
  p.length = p.maxLength();
  if (has_len) {
    int len = -1;
    if (len_part.empty() || !parseNumber(len_part, &len) || len < 0 || len > p.maxLength() ||
        len_part.find_first_not_of("0123456789") != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid prefix length in '", std::string(text), "' (expected 0-", p.maxLength(), ")"));
    }
    p.length = len;
  }
  // Host bits must be zero.
  const int bytes = p.maxLength() / 8;
  for (int bit = p.length; bit < bytes * 8; ++bit) {
    if (p.addr[bit / 8] & (0x80 >> (bit % 8))) {
      IpPrefix net = p;
      for (int b = p.length; b < bytes * 8; ++b) net.addr[b / 8] &= ~(0x80 >> (b % 8));
      return absl::InvalidArgumentError(absl::StrCat("invalid prefix '", std::string(text),
                                                     "': host bits set (did you mean ",
                                                     net.toString(), "?)"));
    }
  }
  return p;
}

bool IpPrefix::contains(const IpPrefix& other) const {
  if (family != other.family || other.length < length) return false;
  for (int bit = 0; bit < length; ++bit) {
    const std::uint8_t mask = 0x80 >> (bit % 8);
    if ((addr[bit / 8] & mask) != (other.addr[bit / 8] & mask)) return false;
  }
  return true;
}

std::string IpPrefix::addressString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == AF_INET ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
  return buf;
}

std::string IpPrefix::toString() const {
  if (isHost()) return addressString();
  return absl::StrCat(addressString(), "/", length);
}

absl::StatusOr<AllowEntry> AllowEntry::parse(std::string_view text) {
  AllowEntry e;
  std::string_view prefix = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid allow entry '", std::string(text), "': missing ']'"));
    }
    prefix = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("invalid allow entry '", std::string(text),
                                                       "': expected ':PORT' after ']'"));
      }
      port = rest.substr(1);
      if (port.empty())
        return absl::InvalidArgumentError(
            absl::StrCat("invalid allow entry '", std::string(text), "': empty port"));
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    prefix = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("invalid allow entry '", std::string(text), "': empty port"));
  }
  auto p = IpPrefix::parse(prefix);
  if (!p.ok()) return p.status();
  e.prefix = *p;
  if (!port.empty()) {
    auto pp = parsePort(port, text);
    if (!pp.ok()) return pp.status();
    e.port = *pp;
  }
  return e;
}

std::string AllowEntry::toString() const {
  if (port == 0) return prefix.toString();
  if (prefix.isV4()) return absl::StrCat(prefix.toString(), ":", port);
  return absl::StrCat("[", prefix.toString(), "]:", port);
}

absl::StatusOr<HostPort> HostPort::parse(std::string_view text) {
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid address '", std::string(text), "' (expected [IPv6]:PORT)"));
    }
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat("invalid address '", std::string(text),
                                                     "' (expected HOST:PORT or [IPv6]:PORT)"));
    }
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (hp.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid address '", std::string(text), "': empty host"));
  }
  // One text per value: a bracketed host is an IPv6 address (with an optional zone), any
  // other a host name or IPv4 address, so what prints parses back the same.
  const bool bracketed = text.front() == '[';
  if (bracketed) {
    const std::string addr = hp.host.substr(0, hp.host.find('%'));
    const std::string zone =
        addr.size() < hp.host.size() ? hp.host.substr(addr.size() + 1) : std::string("x");
    in6_addr a6{};
    const bool zone_ok = !zone.empty() && std::all_of(zone.begin(), zone.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (::inet_pton(AF_INET6, addr.c_str(), &a6) != 1 || !zone_ok) {
      return absl::InvalidArgumentError(absl::StrCat("invalid address '",
                                                     absl::CHexEscape(std::string(text)),
                                                     "': not an IPv6 address in []"));
    }
  } else if (hp.host.size() > 253 || !std::all_of(hp.host.begin(), hp.host.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                      c == '.';
             })) {
    return absl::InvalidArgumentError(absl::StrCat("invalid address '", std::string(text),
                                                   "': a host name has letters, digits, '-', '.'"));
  }
  auto p = parsePort(port, text);
  if (!p.ok()) return p.status();
  hp.port = *p;
  return hp;
}

std::string HostPort::toString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace warden
