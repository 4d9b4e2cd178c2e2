// NetfilterWatch: the nftables change notifications the kernel multicasts to
// NFNLGRP_NFTABLES (what `nft monitor` listens to). iptables-nft changes arrive there too;
// iptables-legacy changes do not (the agent's periodic verify covers those).
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"
#include "common/unique_fd.h"

namespace warden::linux_os {
namespace {

// A burst (a whole ruleset replaced) is drained in one wake-up, but never without end.
constexpr int kMaxDrain = 100000;

class NftablesNetlinkWatch : public NetfilterWatch {
 public:
  explicit NftablesNetlinkWatch(UniqueFd fd) : fd_(std::move(fd)) {}

  absl::StatusOr<bool> waitForChange(absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      absl::Duration left = deadline - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      // Ceiling to whole milliseconds, capped: poll(2) takes an int.
      const int ms = static_cast<int>(std::min<std::int64_t>(
          absl::ToInt64Milliseconds(left + absl::Microseconds(999)), 24 * 3600 * 1000));
      pollfd pfd{fd_.get(), POLLIN, 0};
      const int n = poll(&pfd, 1, ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::InternalError(
            absl::StrCat("Failed to poll netfilter netlink socket: ", std::strerror(errno)));
      }
      if (n == 0) return false;
      return drain();
    }
  }

 private:
  absl::StatusOr<bool> drain() {
    char buf[16384];
    bool seen = false;
    for (int i = 0; i < kMaxDrain; ++i) {
      const ssize_t r = recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
      if (r > 0) {
        seen = true;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      // ENOBUFS: notifications were lost because we fell behind, so something changed.
      if (r < 0 && errno == ENOBUFS) {
        seen = true;
        continue;
      }
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        return absl::InternalError(
            absl::StrCat("Failed to read netfilter netlink socket: ", std::strerror(errno)));
      }
      break;
    }
    return seen;
  }

  UniqueFd fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NetfilterWatch>> makeNetfilterWatch() {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER));
  if (!fd.ok()) {
    return absl::UnavailableError(
        absl::StrCat("Failed to open netlink socket: ", std::strerror(errno)));
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    return absl::UnavailableError(
        absl::StrCat("Failed to bind netfilter netlink socket: ", std::strerror(err)));
  }
  const int group = NFNLGRP_NFTABLES;
  if (setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0) {
    const int err = errno;
    return absl::UnavailableError(
        absl::StrCat("Failed to join the nftables notification group: ", std::strerror(err)));
  }
  // Larger receive buffer so a burst of notifications is not lost; ENOBUFS is handled anyway.
  const int rcvbuf = 1 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  return std::unique_ptr<NetfilterWatch>(std::make_unique<NftablesNetlinkWatch>(std::move(fd)));
}

}  // namespace warden::linux_os
