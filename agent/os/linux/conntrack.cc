// ConnectionTracker over ctnetlink (libnl-nf-3): dump the conntrack table of this network
// namespace, delete every entry that isolation no longer allows.
#include <netinet/in.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"

namespace warden::linux_os {
namespace {

std::optional<IpPrefix> hostPrefix(const nl_addr* addr) {
  if (addr == nullptr) return std::nullopt;
  IpPrefix p;
  p.family = nl_addr_get_family(addr);
  const unsigned len = nl_addr_get_len(addr);
  if (!((p.family == AF_INET && len == 4) || (p.family == AF_INET6 && len == 16))) {
    return std::nullopt;
  }
  std::memcpy(p.addr.data(), nl_addr_get_binary_addr(addr), len);
  p.length = static_cast<int>(len * 8);
  return p;
}

const IpPrefix& loopback4() {
  static const IpPrefix p = *IpPrefix::parse("127.0.0.0/8");
  return p;
}
const IpPrefix& loopback6() {
  static const IpPrefix p = *IpPrefix::parse("::1");
  return p;
}

struct Tuple {
  std::optional<IpPrefix> src, dst;
  std::uint16_t sport = 0, dport = 0;
};

bool in(const std::optional<IpPrefix>& addr, const IpPrefix& prefix) {
  return addr && prefix.contains(*addr);
}

// Mirrors the isolation rules of agent/firewall_rules.cc for one direction of a flow.
bool allowed(const Tuple& t, std::uint8_t proto, const IsolationPolicy& policy) {
  for (const IpPrefix* lo : {&loopback4(), &loopback6()}) {
    if (in(t.src, *lo) || in(t.dst, *lo)) return true;
  }
  const bool tcp = proto == IPPROTO_TCP, udp = proto == IPPROTO_UDP;
  for (const IpPrefix& ctl : policy.controller_addresses) {
    if (tcp && ((in(t.dst, ctl) && t.dport == policy.controller_port) ||
                (in(t.src, ctl) && t.sport == policy.controller_port))) {
      return true;
    }
  }
  for (const AllowEntry& a : policy.allow) {
    if (!in(t.src, a.prefix) && !in(t.dst, a.prefix)) continue;
    if (a.port == 0) return true;
    if ((tcp || udp) && (t.sport == a.port || t.dport == a.port)) return true;
  }
  return false;
}

struct Sweep {
  const IsolationPolicy* policy;
  nl_sock* sock;
  int deleted = 0;
  int first_error = 0;
};

void visit(nl_object* obj, void* arg) {
  auto* sweep = static_cast<Sweep*>(arg);
  auto* ct = reinterpret_cast<nfnl_ct*>(obj);
  const std::uint8_t proto = nfnl_ct_get_proto(ct);
  for (int repl = 0; repl <= 1; ++repl) {
    Tuple t{hostPrefix(nfnl_ct_get_src(ct, repl)), hostPrefix(nfnl_ct_get_dst(ct, repl)),
            nfnl_ct_get_src_port(ct, repl), nfnl_ct_get_dst_port(ct, repl)};
    if (t.src && allowed(t, proto, *sweep->policy)) return;
  }
  const int err = nfnl_ct_del(sweep->sock, ct, 0);
  if (err == 0) {
    ++sweep->deleted;
  } else if (err != -NLE_OBJ_NOTFOUND && sweep->first_error == 0) {
    // An entry that expired in the meantime is not a failure.
    sweep->first_error = err;
  }
}

// Entries tracked in the calling thread's network namespace; -1 if unknown.
long trackedConnections() {
  std::FILE* f = std::fopen("/proc/sys/net/netfilter/nf_conntrack_count", "re");
  if (f == nullptr) return -1;
  long n = -1;
  if (std::fscanf(f, "%ld", &n) != 1) n = -1;
  std::fclose(f);
  return n;
}

class NetlinkConnectionTracker : public ConnectionTracker {
 public:
  absl::StatusOr<int> flushExcept(const IsolationPolicy& policy) override {
    // A dump walks the kernel's whole (global) conntrack hash, about 10 ms with the default
    // 262144 buckets, even for a namespace with no entries. The per-namespace count says
    // whether there is anything to look at; conntrack is often not even active in a
    // namespace whose rules never use it.
    if (trackedConnections() == 0) return 0;
    std::unique_ptr<nl_sock, void (*)(nl_sock*)> sock(nl_socket_alloc(), nl_socket_free);
    if (!sock) return absl::ResourceExhaustedError("Failed to allocate netlink socket");
    if (int err = nfnl_connect(sock.get()); err < 0) {
      return absl::UnavailableError(
          absl::StrCat("Failed to open netfilter netlink socket: ", nl_geterror(err)));
    }
    nl_cache* raw = nullptr;
    if (int err = nfnl_ct_alloc_cache(sock.get(), &raw); err < 0) {
      // Without nf_conntrack there is nothing to flush. ctnetlink answers ENOENT/EOPNOTSUPP,
      // or EINVAL when the nfnetlink subsystem is not there at all (nfnetlink_rcv_msg()).
      if ((err == -NLE_OBJ_NOTFOUND || err == -NLE_OPNOTSUPP || err == -NLE_INVAL) &&
          access("/proc/sys/net/netfilter/nf_conntrack_count", F_OK) != 0) {
        return 0;
      }
      if (err == -NLE_OBJ_NOTFOUND) return 0;
      return absl::UnavailableError(
          absl::StrCat("Failed to dump conntrack table: ", nl_geterror(err)));
    }
    std::unique_ptr<nl_cache, void (*)(nl_cache*)> cache(raw, nl_cache_free);
    // The dump is bounded by the kernel's nf_conntrack_max.
    Sweep sweep{&policy, sock.get()};
    nl_cache_foreach(cache.get(), visit, &sweep);
    if (sweep.first_error != 0) {
      return absl::InternalError(absl::StrCat("Failed to delete conntrack entries (", sweep.deleted,
                                              " deleted): ", nl_geterror(sweep.first_error)));
    }
    return sweep.deleted;
  }
};

}  // namespace

std::unique_ptr<ConnectionTracker> makeConnectionTracker() {
  return std::make_unique<NetlinkConnectionTracker>();
}

}  // namespace warden::linux_os
