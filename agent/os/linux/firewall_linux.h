// Linux implementations of agent/os/firewall.h.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/os/firewall.h"

namespace warden::linux_os {

struct NftablesOptions {
  // Keep an owned copy of the rules (`flags owner`) beside the plain table. Off forces the
  // path an older kernel takes, so it is tested on new kernels too.
  bool owned_table = true;
};

// "auto" picks nftables when libnftables can talk to the kernel, iptables otherwise.
absl::StatusOr<std::unique_ptr<Firewall>> makeFirewall(const std::string& which,
                                                       NftablesOptions nft_options = {});
std::unique_ptr<Firewall> makeNftablesFirewall(NftablesOptions options = {});
// OK when libnftables can list the kernel's tables (nf_tables present, CAP_NET_ADMIN held).
absl::Status probeNftables();
std::unique_ptr<Firewall> makeIptablesFirewall();
// OK when iptables-save/-restore and ip6tables-save/-restore are installed.
absl::Status probeIptables();
std::unique_ptr<ConnectionTracker> makeConnectionTracker();
absl::StatusOr<std::unique_ptr<NetfilterWatch>> makeNetfilterWatch();

}  // namespace warden::linux_os
