// Linux implementations of agent/os/firewall.h.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/os/firewall.h"

namespace warden::linux_os {

// "auto" picks nftables when libnftables can talk to the kernel, iptables otherwise.
absl::StatusOr<std::unique_ptr<Firewall>> makeFirewall(const std::string& which);
std::unique_ptr<Firewall> makeNftablesFirewall();
// OK when libnftables can list the kernel's tables (nf_tables present, CAP_NET_ADMIN held).
absl::Status probeNftables();
std::unique_ptr<Firewall> makeIptablesFirewall();
// OK when iptables-save/-restore and ip6tables-save/-restore are installed.
absl::Status probeIptables();
std::unique_ptr<ConnectionTracker> makeConnectionTracker();
absl::StatusOr<std::unique_ptr<NetfilterWatch>> makeNetfilterWatch();

}  // namespace warden::linux_os
