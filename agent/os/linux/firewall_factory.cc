// Backend selection for the agent's packet filter.
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"

namespace warden::linux_os {

absl::StatusOr<std::unique_ptr<Firewall>> makeFirewall(const std::string& which,
                                                       NftablesOptions nft_options) {
  if (which == "nftables") return makeNftablesFirewall(nft_options);
  if (which == "iptables") return makeIptablesFirewall();
  if (which != "auto") {
    return absl::InvalidArgumentError(absl::StrCat("unknown firewall backend '", which,
                                                   "' (expected auto, nftables or iptables)"));
  }
  const absl::Status nft = probeNftables();
  if (nft.ok()) return makeNftablesFirewall(nft_options);
  const absl::Status ipt = probeIptables();
  if (ipt.ok()) return makeIptablesFirewall();
  return absl::FailedPreconditionError(
      absl::StrCat("no usable firewall backend: ", nft.message(), "; iptables: ", ipt.message()));
}

}  // namespace warden::linux_os
