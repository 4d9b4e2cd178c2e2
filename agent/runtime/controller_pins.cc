#include "agent/runtime/controller_pins.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace warden {

ControllerPins ControllerPins::decode(std::string_view stored) {
  ControllerPins pins;
  for (absl::string_view entry :
       absl::StrSplit(absl::string_view(stored.data(), stored.size()), ',', absl::SkipEmpty())) {
    const std::size_t at = entry.rfind('@');
    if (at == absl::string_view::npos) continue;
    absl::string_view addr = entry.substr(0, at);
    std::int64_t ms = 0;
    if (!absl::SimpleAtoi(entry.substr(at + 1), &ms) || ms <= 0) continue;
    absl::ConsumePrefix(&addr, "[");
    absl::ConsumeSuffix(&addr, "]");
    auto p = IpPrefix::parse(std::string_view(addr.data(), addr.size()));
    if (!p.ok() || !p->isHost()) continue;
    if (pins.pins_.size() < kMaxPins) pins.pins_.push_back(Pin{*p, ms});
  }
  return pins;
}

std::string ControllerPins::encode() const {
  std::string out;
  for (const Pin& p : pins_) {
    const std::string addr =
        p.address.isV4() ? p.address.toString() : absl::StrCat("[", p.address.toString(), "]");
    absl::StrAppend(&out, out.empty() ? "" : ",", addr, "@", p.confirmed_unix_ms);
  }
  return out;
}

void ControllerPins::confirm(const IpPrefix& address, absl::Time now) {
  const std::int64_t ms = absl::ToUnixMillis(now);
  for (Pin& p : pins_) {
    if (p.address == address) {
      p.confirmed_unix_ms = std::max(p.confirmed_unix_ms, ms);
      return;
    }
  }
  if (pins_.size() >= kMaxPins) {
    // The least recently confirmed pin makes room.
    auto oldest = std::min_element(pins_.begin(), pins_.end(), [](const Pin& a, const Pin& b) {
      return a.confirmed_unix_ms < b.confirmed_unix_ms;
    });
    pins_.erase(oldest);
  }
  pins_.push_back(Pin{address, ms});
}

void ControllerPins::expire(absl::Time now) {
  const std::int64_t cutoff = absl::ToUnixMillis(now - kPinLifetime);
  pins_.erase(std::remove_if(pins_.begin(), pins_.end(),
                             [&](const Pin& p) { return p.confirmed_unix_ms < cutoff; }),
              pins_.end());
}

std::vector<IpPrefix> ControllerPins::addresses() const {
  std::vector<IpPrefix> out;
  for (const Pin& p : pins_) out.push_back(p.address);
  return out;
}

std::optional<IpPrefix> addressOfGrpcPeer(std::string_view peer_text) {
  std::string peer = absl::StrReplaceAll(absl::string_view(peer_text.data(), peer_text.size()),
                                         {{"%5B", "["}, {"%5D", "]"}, {"%5b", "["}, {"%5d", "]"}});
  absl::string_view rest(peer);
  absl::string_view host;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    const std::size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return std::nullopt;
    host = rest.substr(0, colon);
  } else if (absl::ConsumePrefix(&rest, "ipv6:")) {
    if (!absl::ConsumePrefix(&rest, "[")) return std::nullopt;
    const std::size_t close = rest.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    host = rest.substr(0, close);
    // A zone ("fe80::1%25eth0") is not part of the address the rules name.
    if (const std::size_t zone = host.find('%'); zone != absl::string_view::npos) {
      host = host.substr(0, zone);
    }
  } else {
    return std::nullopt;
  }
  auto p = IpPrefix::parse(std::string_view(host.data(), host.size()));
  if (!p.ok() || !p->isHost()) return std::nullopt;
  return *p;
}

}  // namespace warden
