// Pure translation of a ContainmentState into nftables / iptables-restore input.
//
// Both builders express the same policy (DESIGN.md "Network containment semantics"):
//
//  1. Address blocks first, with or without isolation: a blocked prefix is dropped as source
//     on input, as destination on output, and as either on forward.
//  2. Isolation then accepts only: loopback; TCP to/from the controller's pinned addresses
//     and port; the responder's allow entries; DHCPv4/DHCPv6 client traffic; IPv6 neighbour
//     discovery. Everything else in all three hooks is dropped. There is deliberately no
//     "ct state established accept": connections that were open before isolation die.
//
// The filter is stateless, so each permitted flow needs a rule per direction:
//  - Controller X, port P (the agent always dials out): output `daddr X tcp dport P`, input
//    `saddr X tcp sport P`.
//  - Allow entry X with port P != 0, TCP and UDP: P is the service port of the flow, on
//    either end. The host may call X:P (output `daddr X dport P`, replies on input `saddr X
//    sport P`), and X may call the host's port P (input `saddr X dport P`, replies on output
//    `daddr X sport P`) — e.g. `--allow 198.18.7.7:22` lets the forensic workstation ssh in.
//    Consequence of being stateless: X can also reach any host port from source port P (as
//    the controller can from its port). Only those pinned addresses get that latitude.
//  - Allow entry X with port 0: every packet to/from X, any protocol.
//  - ARP is not IP: neither an `inet` table nor iptables sees it, so IPv4 neighbours still
//    resolve. IPv6 neighbour discovery is ICMPv6 and needs its own rule; it is accepted only
//    with hop limit 255 (RFC 4861 §6.1.1, §7.1.1), so it cannot be used from off-link.
//
// Output is deterministic: blocked prefixes are normalised (sorted, duplicates and prefixes
// covered by another dropped — nftables refuses overlapping intervals in one set), and every
// other list keeps the policy's order. Every rule carries a `warden:` comment so the backends
// can check what they read back.
#include "agent/firewall_rules.h"

#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace warden {
namespace {

// "198.18.0.1:7443" / "[2001:db8::1]:7443", or the bare prefix for port 0.
std::string endpoint(const IpPrefix& prefix, std::uint16_t port) {
  AllowEntry entry;
  entry.prefix = prefix;
  entry.port = port;
  return entry.toString();
}

std::vector<IpPrefix> normalizeBlocked(const std::vector<IpPrefix>& blocked) {
  std::vector<IpPrefix> sorted = blocked;
  std::sort(sorted.begin(), sorted.end(), [](const IpPrefix& a, const IpPrefix& b) {
    return std::tie(a.family, a.addr, a.length) < std::tie(b.family, b.addr, b.length);
  });
  // Sorted by address then length, a covering prefix comes before everything it covers, and
  // the kept prefixes are disjoint: checking the last kept one is enough.
  std::vector<IpPrefix> kept;
  for (const IpPrefix& p : sorted) {
    if (!kept.empty() && kept.back().contains(p)) continue;
    kept.push_back(p);
  }
  return kept;
}

// ---- nftables ----------------------------------------------------------------------------------

struct NftChains {
  std::vector<std::string> input;
  std::vector<std::string> output;
  std::vector<std::string> forward;
};

std::string nftRule(std::string body, std::string_view comment) {
  return absl::StrFormat("%s comment \"warden:%s\"", body, comment);
}

const char* nftIp(const IpPrefix& p) { return p.isV4() ? "ip" : "ip6"; }

// The 32 hex digits (IPv6) or 8 (IPv4) of an address, for raw payload matches.
std::string addrHex(const IpPrefix& p) {
  std::string out = "0x";
  for (int i = 0; i < (p.isV4() ? 4 : 16); ++i) absl::StrAppendFormat(&out, "%02x", p.addr[i]);
  return out;
}

// "{ a, b }" for nftables (an anonymous set; a single element needs no braces).
std::string nftSet(const std::vector<std::string>& elements) {
  if (elements.size() == 1) return elements.front();
  std::string out = "{ ";
  for (std::size_t i = 0; i < elements.size(); ++i)
    absl::StrAppend(&out, i ? ", " : "", elements[i]);
  return out + " }";
}

// The isolation rules for traffic leaving the host (the output hook, and the netdev egress
// hook that also sees what raw sockets send) and arriving (input), without loopback.
struct IsolationRules {
  std::vector<std::string> out;
  std::vector<std::string> in;
};

IsolationRules nftIsolationRules(const IsolationPolicy& iso) {
  IsolationRules r;
  for (const IpPrefix& ctl : iso.controller_addresses) {
    const std::string ep = endpoint(ctl, iso.controller_port);
    r.out.push_back(nftRule(absl::StrFormat("%s daddr %s tcp dport %d accept", nftIp(ctl),
                                            ctl.toString(), iso.controller_port),
                            absl::StrCat("controller-out ", ep)));
    r.in.push_back(nftRule(absl::StrFormat("%s saddr %s tcp sport %d accept", nftIp(ctl),
                                           ctl.toString(), iso.controller_port),
                           absl::StrCat("controller-in ", ep)));
  }
  // Path MTU for the controller flow: "fragmentation needed" (RFC 1191) and "packet too big"
  // (RFC 8201) from any router, but only when the packet they quote is one the host sent to
  // the controller — TCP to its address and port — so the exception carries no other flow.
  // Offsets are from the ICMP header: 8 bytes, then the quoted IP header (IPv4 without
  // options: version/IHL 0x45, protocol at +9, destination at +16, TCP dport at +22; IPv6:
  // next header at +6, destination at +24, TCP dport at +42).
  for (const IpPrefix& ctl : iso.controller_addresses) {
    if (!ctl.isHost()) continue;
    const std::string ep = endpoint(ctl, iso.controller_port);
    const std::string match =
        ctl.isV4() ? absl::StrFormat(
                         "icmp type destination-unreachable icmp code frag-needed @th,64,8 0x45 "
                         "@th,136,8 6 @th,192,32 %s @th,240,16 %d",
                         addrHex(ctl), iso.controller_port)
                   : absl::StrFormat(
                         "icmpv6 type packet-too-big @th,112,8 6 @th,256,128 %s "
                         "@th,400,16 %d",
                         addrHex(ctl), iso.controller_port);
    r.in.push_back(nftRule(match + " accept", absl::StrCat("pmtu-in ", ep)));
  }

  for (const AllowEntry& a : iso.allow) {
    const std::string ip = nftIp(a.prefix);
    const std::string addr = a.prefix.toString();
    const std::string ep = a.toString();
    if (a.port == 0) {
      r.in.push_back(
          nftRule(absl::StrFormat("%s saddr %s accept", ip, addr), absl::StrCat("allow-in ", ep)));
      r.out.push_back(
          nftRule(absl::StrFormat("%s daddr %s accept", ip, addr), absl::StrCat("allow-out ", ep)));
      continue;
    }
    const auto rule = [&](const char* dir, const char* th) {
      return absl::StrFormat("%s %s %s meta l4proto { tcp, udp } th %s %d accept", ip, dir, addr,
                             th, a.port);
    };
    // Replies from X's service, then X calling the host's service.
    r.in.push_back(nftRule(rule("saddr", "sport"), absl::StrCat("allow-in ", ep, " sport")));
    r.in.push_back(nftRule(rule("saddr", "dport"), absl::StrCat("allow-in ", ep, " dport")));
    // The host calling X's service, then the host's replies to X.
    r.out.push_back(nftRule(rule("daddr", "dport"), absl::StrCat("allow-out ", ep, " dport")));
    r.out.push_back(nftRule(rule("daddr", "sport"), absl::StrCat("allow-out ", ep, " sport")));
  }

  // The host's own DHCP exchange (RFC 2131 §4.1: client 68, server 67), and nothing else on
  // those ports: to the link's broadcast or the server of its lease; in from that server, or
  // to the broadcast address (offers to a client that has no address yet).
  std::vector<std::string> servers;
  for (const IpPrefix& s : iso.dhcp_servers) {
    if (s.isV4()) servers.push_back(s.toString());
  }
  std::vector<std::string> to = {"255.255.255.255"};
  to.insert(to.end(), servers.begin(), servers.end());
  r.out.push_back(nftRule(
      absl::StrFormat("ip daddr %s udp sport 68 udp dport 67 accept", nftSet(to)), "dhcp4-out"));
  r.in.push_back(
      nftRule("ip daddr 255.255.255.255 udp sport 67 udp dport 68 accept", "dhcp4-in broadcast"));
  if (!servers.empty()) {
    r.in.push_back(
        nftRule(absl::StrFormat("ip saddr %s udp sport 67 udp dport 68 accept", nftSet(servers)),
                "dhcp4-in server"));
  }
  // DHCPv6 (RFC 8415 §7: client 546, server 547) is link-local: to All_DHCP_Relay_Agents_and_
  // Servers or a link-local server, and in only from link-local addresses.
  r.out.push_back(nftRule("ip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept",
                          "dhcp6-out"));
  r.in.push_back(nftRule("ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept", "dhcp6-in"));

  // Neighbour discovery in the directions a host uses it (RFC 4861 §4): solicitations and
  // advertisements both ways, router solicitations out, router advertisements in; never a
  // router advertisement or a redirect out. Hop limit 255 only (§6.1.1, §7.1.1): not from
  // off-link.
  r.out.push_back(nftRule(
      "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit "
      "255 accept",
      "nd-out"));
  r.in.push_back(nftRule(
      "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit "
      "255 accept",
      "nd-in"));
  return r;
}

NftChains nftRules(const ContainmentState& state, bool have4, bool have6) {
  NftChains c;
  if (have4) {
    c.input.push_back(nftRule("ip saddr @blocked4 drop", "block4-in"));
    c.output.push_back(nftRule("ip daddr @blocked4 drop", "block4-out"));
    c.forward.push_back(nftRule("ip saddr @blocked4 drop", "block4-fwd-src"));
    c.forward.push_back(nftRule("ip daddr @blocked4 drop", "block4-fwd-dst"));
  }
  if (have6) {
    c.input.push_back(nftRule("ip6 saddr @blocked6 drop", "block6-in"));
    c.output.push_back(nftRule("ip6 daddr @blocked6 drop", "block6-out"));
    c.forward.push_back(nftRule("ip6 saddr @blocked6 drop", "block6-fwd-src"));
    c.forward.push_back(nftRule("ip6 daddr @blocked6 drop", "block6-fwd-dst"));
  }
  if (!state.isolation) return c;

  c.input.push_back(nftRule("iif \"lo\" accept", "lo-in"));
  c.output.push_back(nftRule("oif \"lo\" accept", "lo-out"));
  IsolationRules iso = nftIsolationRules(*state.isolation);
  c.input.insert(c.input.end(), iso.in.begin(), iso.in.end());
  c.output.insert(c.output.end(), iso.out.begin(), iso.out.end());

  c.input.push_back(nftRule("drop", "isolate-in"));
  c.output.push_back(nftRule("drop", "isolate-out"));
  c.forward.push_back(nftRule("drop", "isolate-fwd"));
  return c;
}

void appendNftSet(std::string* out, const char* name, const char* type,
                  const std::vector<IpPrefix>& elements) {
  absl::StrAppend(out, "\tset ", name, " {\n\t\ttype ", type, "\n\t\tflags interval\n");
  if (!elements.empty()) {
    absl::StrAppend(out, "\t\telements = { ");
    for (std::size_t i = 0; i < elements.size(); ++i) {
      absl::StrAppend(out, i ? ", " : "", elements[i].toString());
    }
    absl::StrAppend(out, " }\n");
  }
  absl::StrAppend(out, "\t}\n");
}

void appendNftChain(std::string* out, const char* name, const std::vector<std::string>& rules) {
  // Priority -300 (raw) runs before conntrack (-200), so dropped packets leave no conntrack
  // state behind (nft(8), "CHAINS", standard priority names).
  absl::StrAppend(out, "\tchain ", name, " {\n\t\ttype filter hook ", name,
                  " priority -300; policy accept;\n");
  for (const std::string& r : rules) absl::StrAppend(out, "\t\t", r, "\n");
  absl::StrAppend(out, "\t}\n");
}

// ---- iptables ----------------------------------------------------------------------------------

constexpr const char* kIptChains[] = {"INPUT", "OUTPUT", "FORWARD"};

std::string iptAddr(const IpPrefix& p) { return absl::StrCat(p.addressString(), "/", p.length); }

// Rules are written the way iptables-save prints them (address with length, explicit `-m
// tcp`, comment before the target), so read-back compares lines verbatim.
std::string iptRule(std::string_view chain, std::string_view match, std::string_view comment,
                    std::string_view target) {
  return absl::StrFormat("-A WARDEN-%s %s%s-m comment --comment \"warden:%s\" -j %s\n", chain,
                         match, match.empty() ? "" : " ", comment, target);
}

}  // namespace

bool nftSafeInterfaceName(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
           ch == '.' || ch == '@' || ch == '+';
  });
}

namespace {

// "add table; delete table" for every table the script replaces: a no-op for one that does
// not exist, so the script never depends on what is there. The owned table is added with its
// flag: the kernel refuses an update that would drop `owner` (EOPNOTSUPP).
void appendNftReset(std::string* out, const char* family, const std::string& name) {
  const char* flags = name == kNftOwnedTable ? " { flags owner; }" : "";
  absl::StrAppend(out, "add table ", family, " ", name, flags, "\ndelete table ", family, " ", name,
                  "\n");
}

}  // namespace

std::string buildNftScript(const ContainmentState& state,
                           const std::vector<std::string>& interfaces, bool owned_copy) {
  std::vector<std::string> names = {kNftTable};
  if (owned_copy) names.push_back(kNftOwnedTable);
  std::string out;
  for (const std::string& name : names) {
    appendNftReset(&out, "inet", name);
    appendNftReset(&out, "netdev", name);
  }
  if (state.empty()) return out;

  std::vector<IpPrefix> blocked4, blocked6;
  for (const IpPrefix& p : normalizeBlocked(state.blocked)) {
    (p.isV4() ? blocked4 : blocked6).push_back(p);
  }
  // The sets always exist (possibly empty) so that the table's shape does not depend on
  // which families are blocked; the rules referencing them are cheap.
  const NftChains chains = nftRules(state, /*have4=*/true, /*have6=*/true);
  std::string inet;
  appendNftSet(&inet, "blocked4", "ipv4_addr", blocked4);
  appendNftSet(&inet, "blocked6", "ipv6_addr", blocked6);
  appendNftChain(&inet, "input", chains.input);
  appendNftChain(&inet, "output", chains.output);
  appendNftChain(&inet, "forward", chains.forward);

  // Raw (AF_PACKET) sockets skip the inet hooks. The netdev egress hook sees every frame a
  // device sends, raw or not, so it holds the isolation's outbound rules again, with ARP
  // (which is not IP) and a drop of everything else. Inbound, packet sockets bound to every
  // protocol see frames before any hook can drop them; the ingress chain stops the rest of
  // what is not IP or ARP, and the inet input chain decides on IP as before.
  std::vector<std::string> devices;
  for (const std::string& name : interfaces) {
    if (name != "lo" && nftSafeInterfaceName(name)) devices.push_back(name);
  }
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  std::string netdev;
  if (state.isolation && !devices.empty()) {
    // Written the way nft prints it, so the read-back compares hook lines verbatim.
    const std::string hook_devices =
        devices.size() == 1 ? absl::StrCat("device \"", devices.front(), "\"")
                            : absl::StrCat("devices = { ", absl::StrJoin(devices, ", "), " }");
    const IsolationRules iso = nftIsolationRules(*state.isolation);
    std::vector<std::string> egress;
    egress.push_back(nftRule(
        "arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp operation { request, reply } accept",
        "arp-out"));
    egress.insert(egress.end(), iso.out.begin(), iso.out.end());
    egress.push_back(nftRule("drop", "raw-out"));
    const std::vector<std::string> ingress = {
        nftRule("meta protocol { ip, ip6, arp } accept", "raw-in ip"),
        nftRule("drop", "raw-in"),
    };
    using Chain = std::pair<const char*, const std::vector<std::string>*>;
    for (const auto& [hook, rules] : {Chain{"ingress", &ingress}, Chain{"egress", &egress}}) {
      absl::StrAppend(&netdev, "\tchain ", hook, " {\n\t\ttype filter hook ", hook, " ",
                      hook_devices, " priority -500; policy accept;\n");
      for (const std::string& r : *rules) absl::StrAppend(&netdev, "\t\t", r, "\n");
      absl::StrAppend(&netdev, "\t}\n");
    }
  }

  // The owned copy holds the same sets and chains. Both copies' chains see every packet (base
  // chains on one hook all run), so a packet passes only when both accept it — the same rules
  // — and deleting the plain table leaves the owned one enforcing, with no gap.
  for (const std::string& name : names) {
    const char* flags = name == kNftOwnedTable ? "\tflags owner\n" : "";
    absl::StrAppend(&out, "table inet ", name, " {\n", flags, inet, "}\n");
    if (!netdev.empty()) absl::StrAppend(&out, "table netdev ", name, " {\n", flags, netdev, "}\n");
  }
  return out;
}

std::string buildIptablesRestore(const ContainmentState& state, int family, bool chains_present,
                                 bool jumps_present) {
  const bool v4 = family == AF_INET;
  std::string out = "*filter\n";
  if (state.empty()) {
    if (jumps_present) {
      for (const char* c : kIptChains) absl::StrAppend(&out, "-D ", c, " -j WARDEN-", c, "\n");
    }
    if (chains_present) {
      for (const char* c : kIptChains) absl::StrAppend(&out, "-F WARDEN-", c, "\n");
      for (const char* c : kIptChains) absl::StrAppend(&out, "-X WARDEN-", c, "\n");
    }
    absl::StrAppend(&out, "COMMIT\n");
    return out;
  }

  // With --noflush, declaring a chain creates it or flushes it if it exists, so the new
  // rules replace the old ones inside the same commit.
  for (const char* c : kIptChains) absl::StrAppend(&out, ":WARDEN-", c, " - [0:0]\n");

  std::string in, o, fwd;
  for (const IpPrefix& p : normalizeBlocked(state.blocked)) {
    if (p.isV4() != v4) continue;
    const std::string a = iptAddr(p);
    const std::string what = p.toString();
    absl::StrAppend(&in, iptRule("INPUT", absl::StrCat("-s ", a), "block-in " + what, "DROP"));
    absl::StrAppend(&o, iptRule("OUTPUT", absl::StrCat("-d ", a), "block-out " + what, "DROP"));
    absl::StrAppend(&fwd,
                    iptRule("FORWARD", absl::StrCat("-s ", a), "block-fwd-src " + what, "DROP"));
    absl::StrAppend(&fwd,
                    iptRule("FORWARD", absl::StrCat("-d ", a), "block-fwd-dst " + what, "DROP"));
  }

  if (state.isolation) {
    const IsolationPolicy& iso = *state.isolation;
    absl::StrAppend(&in, iptRule("INPUT", "-i lo", "lo-in", "ACCEPT"));
    absl::StrAppend(&o, iptRule("OUTPUT", "-o lo", "lo-out", "ACCEPT"));

    for (const IpPrefix& ctl : iso.controller_addresses) {
      if (ctl.isV4() != v4) continue;
      const std::string ep = endpoint(ctl, iso.controller_port);
      absl::StrAppend(&o, iptRule("OUTPUT",
                                  absl::StrFormat("-d %s -p tcp -m tcp --dport %d", iptAddr(ctl),
                                                  iso.controller_port),
                                  "controller-out " + ep, "ACCEPT"));
      absl::StrAppend(&in, iptRule("INPUT",
                                   absl::StrFormat("-s %s -p tcp -m tcp --sport %d", iptAddr(ctl),
                                                   iso.controller_port),
                                   "controller-in " + ep, "ACCEPT"));
    }

    // Path MTU errors quoting the host's TCP to the controller (see the nftables chains),
    // matched with u32 and written as iptables-save prints it. IPv4: the quoted header
    // starts 8 bytes into the ICMP header, found through the outer IHL. IPv6: only when the
    // outer next header is ICMPv6 itself (no extension headers), so the offsets are fixed.
    for (const IpPrefix& ctl : iso.controller_addresses) {
      if (ctl.isV4() != v4 || !ctl.isHost()) continue;
      std::string u32;
      if (v4) {
        const std::string at = "0x0>>0x16&0x3c@";
        u32 = absl::StrFormat(
            "%s0x8=0x45000000:0x45ffffff&&%s0xe&0xff=0x6&&%s0x18=0x%s&&%s0x1c&0xffff=0x%x", at, at,
            at, absl::StripPrefix(addrHex(ctl), "0x"), at, iso.controller_port);
      } else {
        u32 = "0x4>>0x8&0xff=0x3a&&0x33&0xff=0x6";
        const std::string hex(absl::StripPrefix(addrHex(ctl), "0x"));
        for (int word = 0; word < 4; ++word) {
          // u32 prints values without leading zeros.
          std::string value = hex.substr(word * 8, 8);
          value.erase(0, std::min(value.find_first_not_of('0'), value.size() - 1));
          absl::StrAppendFormat(&u32, "&&0x%x=0x%s", 0x48 + 4 * word, value);
        }
        absl::StrAppendFormat(&u32, "&&0x58&0xffff=0x%x", iso.controller_port);
      }
      const std::string match =
          v4 ? absl::StrFormat("-p icmp -m icmp --icmp-type 3/4 -m u32 --u32 \"%s\"", u32)
             : absl::StrFormat("-p ipv6-icmp -m icmp6 --icmpv6-type 2 -m u32 --u32 \"%s\"", u32);
      absl::StrAppend(
          &in, iptRule("INPUT", match, "pmtu-in " + endpoint(ctl, iso.controller_port), "ACCEPT"));
    }

    for (const AllowEntry& a : iso.allow) {
      if (a.prefix.isV4() != v4) continue;
      const std::string addr = iptAddr(a.prefix);
      const std::string ep = a.toString();
      if (a.port == 0) {
        absl::StrAppend(&in, iptRule("INPUT", "-s " + addr, "allow-in " + ep, "ACCEPT"));
        absl::StrAppend(&o, iptRule("OUTPUT", "-d " + addr, "allow-out " + ep, "ACCEPT"));
        continue;
      }
      for (const char* proto : {"tcp", "udp"}) {
        const auto match = [&](const char* dir, const char* port) {
          return absl::StrFormat("%s %s -p %s -m %s --%s %d", dir, addr, proto, proto, port,
                                 a.port);
        };
        const auto comment = [&](const char* dir, const char* port) {
          return absl::StrFormat("allow-%s %s %s %s", dir, ep, proto, port);
        };
        // Same order as the nftables chains: replies from X's service, X calling the host's
        // service; the host calling X's service, the host's replies to X.
        absl::StrAppend(&in,
                        iptRule("INPUT", match("-s", "sport"), comment("in", "sport"), "ACCEPT"));
        absl::StrAppend(&in,
                        iptRule("INPUT", match("-s", "dport"), comment("in", "dport"), "ACCEPT"));
        absl::StrAppend(&o,
                        iptRule("OUTPUT", match("-d", "dport"), comment("out", "dport"), "ACCEPT"));
        absl::StrAppend(&o,
                        iptRule("OUTPUT", match("-d", "sport"), comment("out", "sport"), "ACCEPT"));
      }
    }

    // The same exceptions as the nftables chains, DESIGN "Network containment semantics".
    if (v4) {
      std::vector<std::string> servers;
      for (const IpPrefix& srv : iso.dhcp_servers) {
        if (srv.isV4()) servers.push_back(iptAddr(srv));
      }
      absl::StrAppend(&o,
                      iptRule("OUTPUT", "-d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67",
                              "dhcp4-out broadcast", "ACCEPT"));
      for (const std::string& srv : servers) {
        absl::StrAppend(
            &o, iptRule("OUTPUT", absl::StrCat("-d ", srv, " -p udp -m udp --sport 68 --dport 67"),
                        "dhcp4-out server " + srv, "ACCEPT"));
      }
      absl::StrAppend(&in,
                      iptRule("INPUT", "-d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68",
                              "dhcp4-in broadcast", "ACCEPT"));
      for (const std::string& srv : servers) {
        absl::StrAppend(
            &in, iptRule("INPUT", absl::StrCat("-s ", srv, " -p udp -m udp --sport 67 --dport 68"),
                         "dhcp4-in server " + srv, "ACCEPT"));
      }
    } else {
      for (const char* to : {"ff02::1:2/128", "fe80::/10"}) {
        absl::StrAppend(
            &o, iptRule("OUTPUT", absl::StrCat("-d ", to, " -p udp -m udp --sport 546 --dport 547"),
                        absl::StrCat("dhcp6-out ", to), "ACCEPT"));
      }
      absl::StrAppend(&in, iptRule("INPUT", "-s fe80::/10 -p udp -m udp --sport 547 --dport 546",
                                   "dhcp6-in", "ACCEPT"));
      // Neighbour discovery (RFC 4861 §4), hop limit 255 only: solicitations (133 router,
      // 135 neighbour) and advertisements (136) out; router advertisements (134),
      // solicitations and advertisements in. Never 134 or a redirect (137) out.
      const auto nd = [](int type) {
        return absl::StrFormat("-p ipv6-icmp -m icmp6 --icmpv6-type %d -m hl --hl-eq 255", type);
      };
      for (int type : {133, 135, 136}) {
        absl::StrAppend(&o, iptRule("OUTPUT", nd(type), absl::StrCat("nd-out ", type), "ACCEPT"));
      }
      for (int type : {134, 135, 136}) {
        absl::StrAppend(&in, iptRule("INPUT", nd(type), absl::StrCat("nd-in ", type), "ACCEPT"));
      }
    }

    absl::StrAppend(&in, iptRule("INPUT", "", "isolate-in", "DROP"));
    absl::StrAppend(&o, iptRule("OUTPUT", "", "isolate-out", "DROP"));
    absl::StrAppend(&fwd, iptRule("FORWARD", "", "isolate-fwd", "DROP"));
  }

  absl::StrAppend(&out, in, o, fwd);
  if (!jumps_present) {
    for (const char* c : kIptChains) absl::StrAppend(&out, "-I ", c, " 1 -j WARDEN-", c, "\n");
  }
  absl::StrAppend(&out, "COMMIT\n");
  return out;
}

}  // namespace warden
