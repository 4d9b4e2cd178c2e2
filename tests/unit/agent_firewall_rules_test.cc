// Byte-for-byte checks of the packet-filter translation (agent/firewall_rules.cc). The
// expected texts were also fed to nft(8) and iptables-restore(8) inside a scratch network
// namespace and read back unchanged (the ns tests do the same through the backends).
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <vector>

#include "agent/firewall_rules.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

IpPrefix prefix(const char* text) {
  auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : IpPrefix{};
}

AllowEntry allow(const char* text) {
  auto a = AllowEntry::parse(text);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : AllowEntry{};
}

// Controller on IPv4 and IPv6; allow entries: a whole /24, a host with a port, an IPv6 prefix
// with a port; a DHCP server from the lease; blocks with a duplicate and a prefix covered by
// another.
ContainmentState representative() {
  ContainmentState st;
  IsolationPolicy iso;
  iso.controller_addresses = {prefix("198.18.0.1"), prefix("2001:db8::1")};
  iso.controller_port = 7443;
  iso.allow = {allow("198.18.7.0/24"), allow("198.18.9.9:22"), allow("[2001:db8:7::/48]:514")};
  iso.dhcp_servers = {prefix("198.18.0.53")};
  st.isolation = iso;
  st.blocked = {prefix("198.19.0.0/16"), prefix("198.19.5.0/24"), prefix("2001:db8:bad::/48"),
                prefix("198.18.66.6"), prefix("198.19.0.0/16")};
  return st;
}

// The host's interfaces as if_nameindex(3) lists them: loopback and a name nftables cannot
// be given are left out of the netdev chains, the rest sorted.
const std::vector<std::string> kInterfaces = {"lo", "wfw0", "eth\"}", "bond0"};

ContainmentState blocksOnly() {
  ContainmentState st;
  st.blocked = {prefix("2001:db8:bad::/48"), prefix("198.19.0.0/16")};
  return st;
}

// clang-format off
constexpr char kNftFull[] =
    "add table inet warden\n"
    "delete table inet warden\n"
    "add table netdev warden\n"
    "delete table netdev warden\n"
    "table inet warden {\n"
    "\tset blocked4 {\n"
    "\t\ttype ipv4_addr\n"
    "\t\tflags interval\n"
    "\t\telements = { 198.18.66.6, 198.19.0.0/16 }\n"
    "\t}\n"
    "\tset blocked6 {\n"
    "\t\ttype ipv6_addr\n"
    "\t\tflags interval\n"
    "\t\telements = { 2001:db8:bad::/48 }\n"
    "\t}\n"
    "\tchain input {\n"
    "\t\ttype filter hook input priority -300; policy accept;\n"
    "\t\tip saddr @blocked4 drop comment \"warden:block4-in\"\n"
    "\t\tip6 saddr @blocked6 drop comment \"warden:block6-in\"\n"
    "\t\tiif \"lo\" accept comment \"warden:lo-in\"\n"
    "\t\tip saddr 198.18.0.1 tcp sport 7443 accept comment \"warden:controller-in 198.18.0.1:7443\"\n"
    "\t\tip6 saddr 2001:db8::1 tcp sport 7443 accept comment \"warden:controller-in [2001:db8::1]:7443\"\n"
    "\t\ticmp type destination-unreachable icmp code frag-needed @th,64,8 0x45 @th,136,8 6 @th,192,32 0xc6120001 @th,240,16 7443 accept comment \"warden:pmtu-in 198.18.0.1:7443\"\n"
    "\t\ticmpv6 type packet-too-big @th,112,8 6 @th,256,128 0x20010db8000000000000000000000001 @th,400,16 7443 accept comment \"warden:pmtu-in [2001:db8::1]:7443\"\n"
    "\t\tip saddr 198.18.7.0/24 accept comment \"warden:allow-in 198.18.7.0/24\"\n"
    "\t\tip saddr 198.18.9.9 meta l4proto { tcp, udp } th sport 22 accept comment \"warden:allow-in 198.18.9.9:22 sport\"\n"
    "\t\tip saddr 198.18.9.9 meta l4proto { tcp, udp } th dport 22 accept comment \"warden:allow-in 198.18.9.9:22 dport\"\n"
    "\t\tip6 saddr 2001:db8:7::/48 meta l4proto { tcp, udp } th sport 514 accept comment \"warden:allow-in [2001:db8:7::/48]:514 sport\"\n"
    "\t\tip6 saddr 2001:db8:7::/48 meta l4proto { tcp, udp } th dport 514 accept comment \"warden:allow-in [2001:db8:7::/48]:514 dport\"\n"
    "\t\tip daddr 255.255.255.255 udp sport 67 udp dport 68 accept comment \"warden:dhcp4-in broadcast\"\n"
    "\t\tip saddr 198.18.0.53 udp sport 67 udp dport 68 accept comment \"warden:dhcp4-in server\"\n"
    "\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept comment \"warden:dhcp6-in\"\n"
    "\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"warden:nd-in\"\n"
    "\t\tdrop comment \"warden:isolate-in\"\n"
    "\t}\n"
    "\tchain output {\n"
    "\t\ttype filter hook output priority -300; policy accept;\n"
    "\t\tip daddr @blocked4 drop comment \"warden:block4-out\"\n"
    "\t\tip6 daddr @blocked6 drop comment \"warden:block6-out\"\n"
    "\t\toif \"lo\" accept comment \"warden:lo-out\"\n"
    "\t\tip daddr 198.18.0.1 tcp dport 7443 accept comment \"warden:controller-out 198.18.0.1:7443\"\n"
    "\t\tip6 daddr 2001:db8::1 tcp dport 7443 accept comment \"warden:controller-out [2001:db8::1]:7443\"\n"
    "\t\tip daddr 198.18.7.0/24 accept comment \"warden:allow-out 198.18.7.0/24\"\n"
    "\t\tip daddr 198.18.9.9 meta l4proto { tcp, udp } th dport 22 accept comment \"warden:allow-out 198.18.9.9:22 dport\"\n"
    "\t\tip daddr 198.18.9.9 meta l4proto { tcp, udp } th sport 22 accept comment \"warden:allow-out 198.18.9.9:22 sport\"\n"
    "\t\tip6 daddr 2001:db8:7::/48 meta l4proto { tcp, udp } th dport 514 accept comment \"warden:allow-out [2001:db8:7::/48]:514 dport\"\n"
    "\t\tip6 daddr 2001:db8:7::/48 meta l4proto { tcp, udp } th sport 514 accept comment \"warden:allow-out [2001:db8:7::/48]:514 sport\"\n"
    "\t\tip daddr { 255.255.255.255, 198.18.0.53 } udp sport 68 udp dport 67 accept comment \"warden:dhcp4-out\"\n"
    "\t\tip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept comment \"warden:dhcp6-out\"\n"
    "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"warden:nd-out\"\n"
    "\t\tdrop comment \"warden:isolate-out\"\n"
    "\t}\n"
    "\tchain forward {\n"
    "\t\ttype filter hook forward priority -300; policy accept;\n"
    "\t\tip saddr @blocked4 drop comment \"warden:block4-fwd-src\"\n"
    "\t\tip daddr @blocked4 drop comment \"warden:block4-fwd-dst\"\n"
    "\t\tip6 saddr @blocked6 drop comment \"warden:block6-fwd-src\"\n"
    "\t\tip6 daddr @blocked6 drop comment \"warden:block6-fwd-dst\"\n"
    "\t\tdrop comment \"warden:isolate-fwd\"\n"
    "\t}\n"
    "}\n"
    "table netdev warden {\n"
    "\tchain ingress {\n"
    "\t\ttype filter hook ingress devices = { bond0, wfw0 } priority -500; policy accept;\n"
    "\t\tmeta protocol { ip, ip6, arp } accept comment \"warden:raw-in ip\"\n"
    "\t\tdrop comment \"warden:raw-in\"\n"
    "\t}\n"
    "\tchain egress {\n"
    "\t\ttype filter hook egress devices = { bond0, wfw0 } priority -500; policy accept;\n"
    "\t\tarp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp operation { request, reply } accept comment \"warden:arp-out\"\n"
    "\t\tip daddr 198.18.0.1 tcp dport 7443 accept comment \"warden:controller-out 198.18.0.1:7443\"\n"
    "\t\tip6 daddr 2001:db8::1 tcp dport 7443 accept comment \"warden:controller-out [2001:db8::1]:7443\"\n"
    "\t\tip daddr 198.18.7.0/24 accept comment \"warden:allow-out 198.18.7.0/24\"\n"
    "\t\tip daddr 198.18.9.9 meta l4proto { tcp, udp } th dport 22 accept comment \"warden:allow-out 198.18.9.9:22 dport\"\n"
    "\t\tip daddr 198.18.9.9 meta l4proto { tcp, udp } th sport 22 accept comment \"warden:allow-out 198.18.9.9:22 sport\"\n"
    "\t\tip6 daddr 2001:db8:7::/48 meta l4proto { tcp, udp } th dport 514 accept comment \"warden:allow-out [2001:db8:7::/48]:514 dport\"\n"
    "\t\tip6 daddr 2001:db8:7::/48 meta l4proto { tcp, udp } th sport 514 accept comment \"warden:allow-out [2001:db8:7::/48]:514 sport\"\n"
    "\t\tip daddr { 255.255.255.255, 198.18.0.53 } udp sport 68 udp dport 67 accept comment \"warden:dhcp4-out\"\n"
    "\t\tip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept comment \"warden:dhcp6-out\"\n"
    "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"warden:nd-out\"\n"
    "\t\tdrop comment \"warden:raw-out\"\n"
    "\t}\n"
    "}\n";

constexpr char kIpt4Full[] =
    "*filter\n"
    ":WARDEN-INPUT - [0:0]\n"
    ":WARDEN-OUTPUT - [0:0]\n"
    ":WARDEN-FORWARD - [0:0]\n"
    "-A WARDEN-INPUT -s 198.18.66.6/32 -m comment --comment \"warden:block-in 198.18.66.6\" -j DROP\n"
    "-A WARDEN-INPUT -s 198.19.0.0/16 -m comment --comment \"warden:block-in 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-INPUT -i lo -m comment --comment \"warden:lo-in\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.0.1/32 -p tcp -m tcp --sport 7443 -m comment --comment \"warden:controller-in 198.18.0.1:7443\" -j ACCEPT\n"
    "-A WARDEN-INPUT -p icmp -m icmp --icmp-type 3/4 -m u32 --u32 \"0x0>>0x16&0x3c@0x8=0x45000000:0x45ffffff&&0x0>>0x16&0x3c@0xe&0xff=0x6&&0x0>>0x16&0x3c@0x18=0xc6120001&&0x0>>0x16&0x3c@0x1c&0xffff=0x1d13\" -m comment --comment \"warden:pmtu-in 198.18.0.1:7443\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.7.0/24 -m comment --comment \"warden:allow-in 198.18.7.0/24\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.9.9/32 -p tcp -m tcp --sport 22 -m comment --comment \"warden:allow-in 198.18.9.9:22 tcp sport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.9.9/32 -p tcp -m tcp --dport 22 -m comment --comment \"warden:allow-in 198.18.9.9:22 tcp dport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.9.9/32 -p udp -m udp --sport 22 -m comment --comment \"warden:allow-in 198.18.9.9:22 udp sport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.9.9/32 -p udp -m udp --dport 22 -m comment --comment \"warden:allow-in 198.18.9.9:22 udp dport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68 -m comment --comment \"warden:dhcp4-in broadcast\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 198.18.0.53/32 -p udp -m udp --sport 67 --dport 68 -m comment --comment \"warden:dhcp4-in server 198.18.0.53/32\" -j ACCEPT\n"
    "-A WARDEN-INPUT -m comment --comment \"warden:isolate-in\" -j DROP\n"
    "-A WARDEN-OUTPUT -d 198.18.66.6/32 -m comment --comment \"warden:block-out 198.18.66.6\" -j DROP\n"
    "-A WARDEN-OUTPUT -d 198.19.0.0/16 -m comment --comment \"warden:block-out 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-OUTPUT -o lo -m comment --comment \"warden:lo-out\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.0.1/32 -p tcp -m tcp --dport 7443 -m comment --comment \"warden:controller-out 198.18.0.1:7443\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.7.0/24 -m comment --comment \"warden:allow-out 198.18.7.0/24\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.9.9/32 -p tcp -m tcp --dport 22 -m comment --comment \"warden:allow-out 198.18.9.9:22 tcp dport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.9.9/32 -p tcp -m tcp --sport 22 -m comment --comment \"warden:allow-out 198.18.9.9:22 tcp sport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.9.9/32 -p udp -m udp --dport 22 -m comment --comment \"warden:allow-out 198.18.9.9:22 udp dport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.9.9/32 -p udp -m udp --sport 22 -m comment --comment \"warden:allow-out 198.18.9.9:22 udp sport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -m comment --comment \"warden:dhcp4-out broadcast\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 198.18.0.53/32 -p udp -m udp --sport 68 --dport 67 -m comment --comment \"warden:dhcp4-out server 198.18.0.53/32\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -m comment --comment \"warden:isolate-out\" -j DROP\n"
    "-A WARDEN-FORWARD -s 198.18.66.6/32 -m comment --comment \"warden:block-fwd-src 198.18.66.6\" -j DROP\n"
    "-A WARDEN-FORWARD -d 198.18.66.6/32 -m comment --comment \"warden:block-fwd-dst 198.18.66.6\" -j DROP\n"
    "-A WARDEN-FORWARD -s 198.19.0.0/16 -m comment --comment \"warden:block-fwd-src 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-FORWARD -d 198.19.0.0/16 -m comment --comment \"warden:block-fwd-dst 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-FORWARD -m comment --comment \"warden:isolate-fwd\" -j DROP\n"
    "-I INPUT 1 -j WARDEN-INPUT\n"
    "-I OUTPUT 1 -j WARDEN-OUTPUT\n"
    "-I FORWARD 1 -j WARDEN-FORWARD\n"
    "COMMIT\n";

constexpr char kIpt6Full[] =
    "*filter\n"
    ":WARDEN-INPUT - [0:0]\n"
    ":WARDEN-OUTPUT - [0:0]\n"
    ":WARDEN-FORWARD - [0:0]\n"
    "-A WARDEN-INPUT -s 2001:db8:bad::/48 -m comment --comment \"warden:block-in 2001:db8:bad::/48\" -j DROP\n"
    "-A WARDEN-INPUT -i lo -m comment --comment \"warden:lo-in\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 2001:db8::1/128 -p tcp -m tcp --sport 7443 -m comment --comment \"warden:controller-in [2001:db8::1]:7443\" -j ACCEPT\n"
    "-A WARDEN-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 2 -m u32 --u32 \"0x4>>0x8&0xff=0x3a&&0x33&0xff=0x6&&0x48=0x20010db8&&0x4c=0x0&&0x50=0x0&&0x54=0x1&&0x58&0xffff=0x1d13\" -m comment --comment \"warden:pmtu-in [2001:db8::1]:7443\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 2001:db8:7::/48 -p tcp -m tcp --sport 514 -m comment --comment \"warden:allow-in [2001:db8:7::/48]:514 tcp sport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 2001:db8:7::/48 -p tcp -m tcp --dport 514 -m comment --comment \"warden:allow-in [2001:db8:7::/48]:514 tcp dport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 2001:db8:7::/48 -p udp -m udp --sport 514 -m comment --comment \"warden:allow-in [2001:db8:7::/48]:514 udp sport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s 2001:db8:7::/48 -p udp -m udp --dport 514 -m comment --comment \"warden:allow-in [2001:db8:7::/48]:514 udp dport\" -j ACCEPT\n"
    "-A WARDEN-INPUT -s fe80::/10 -p udp -m udp --sport 547 --dport 546 -m comment --comment \"warden:dhcp6-in\" -j ACCEPT\n"
    "-A WARDEN-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 134 -m hl --hl-eq 255 -m comment --comment \"warden:nd-in 134\" -j ACCEPT\n"
    "-A WARDEN-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -m comment --comment \"warden:nd-in 135\" -j ACCEPT\n"
    "-A WARDEN-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -m hl --hl-eq 255 -m comment --comment \"warden:nd-in 136\" -j ACCEPT\n"
    "-A WARDEN-INPUT -m comment --comment \"warden:isolate-in\" -j DROP\n"
    "-A WARDEN-OUTPUT -d 2001:db8:bad::/48 -m comment --comment \"warden:block-out 2001:db8:bad::/48\" -j DROP\n"
    "-A WARDEN-OUTPUT -o lo -m comment --comment \"warden:lo-out\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 2001:db8::1/128 -p tcp -m tcp --dport 7443 -m comment --comment \"warden:controller-out [2001:db8::1]:7443\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 2001:db8:7::/48 -p tcp -m tcp --dport 514 -m comment --comment \"warden:allow-out [2001:db8:7::/48]:514 tcp dport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 2001:db8:7::/48 -p tcp -m tcp --sport 514 -m comment --comment \"warden:allow-out [2001:db8:7::/48]:514 tcp sport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 2001:db8:7::/48 -p udp -m udp --dport 514 -m comment --comment \"warden:allow-out [2001:db8:7::/48]:514 udp dport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 2001:db8:7::/48 -p udp -m udp --sport 514 -m comment --comment \"warden:allow-out [2001:db8:7::/48]:514 udp sport\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d ff02::1:2/128 -p udp -m udp --sport 546 --dport 547 -m comment --comment \"warden:dhcp6-out ff02::1:2/128\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d fe80::/10 -p udp -m udp --sport 546 --dport 547 -m comment --comment \"warden:dhcp6-out fe80::/10\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 133 -m hl --hl-eq 255 -m comment --comment \"warden:nd-out 133\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -m comment --comment \"warden:nd-out 135\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -m hl --hl-eq 255 -m comment --comment \"warden:nd-out 136\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -m comment --comment \"warden:isolate-out\" -j DROP\n"
    "-A WARDEN-FORWARD -s 2001:db8:bad::/48 -m comment --comment \"warden:block-fwd-src 2001:db8:bad::/48\" -j DROP\n"
    "-A WARDEN-FORWARD -d 2001:db8:bad::/48 -m comment --comment \"warden:block-fwd-dst 2001:db8:bad::/48\" -j DROP\n"
    "-A WARDEN-FORWARD -m comment --comment \"warden:isolate-fwd\" -j DROP\n"
    "COMMIT\n";

constexpr char kNftBlocksOnly[] =
    "add table inet warden\n"
    "delete table inet warden\n"
    "add table netdev warden\n"
    "delete table netdev warden\n"
    "table inet warden {\n"
    "\tset blocked4 {\n"
    "\t\ttype ipv4_addr\n"
    "\t\tflags interval\n"
    "\t\telements = { 198.19.0.0/16 }\n"
    "\t}\n"
    "\tset blocked6 {\n"
    "\t\ttype ipv6_addr\n"
    "\t\tflags interval\n"
    "\t\telements = { 2001:db8:bad::/48 }\n"
    "\t}\n"
    "\tchain input {\n"
    "\t\ttype filter hook input priority -300; policy accept;\n"
    "\t\tip saddr @blocked4 drop comment \"warden:block4-in\"\n"
    "\t\tip6 saddr @blocked6 drop comment \"warden:block6-in\"\n"
    "\t}\n"
    "\tchain output {\n"
    "\t\ttype filter hook output priority -300; policy accept;\n"
    "\t\tip daddr @blocked4 drop comment \"warden:block4-out\"\n"
    "\t\tip6 daddr @blocked6 drop comment \"warden:block6-out\"\n"
    "\t}\n"
    "\tchain forward {\n"
    "\t\ttype filter hook forward priority -300; policy accept;\n"
    "\t\tip saddr @blocked4 drop comment \"warden:block4-fwd-src\"\n"
    "\t\tip daddr @blocked4 drop comment \"warden:block4-fwd-dst\"\n"
    "\t\tip6 saddr @blocked6 drop comment \"warden:block6-fwd-src\"\n"
    "\t\tip6 daddr @blocked6 drop comment \"warden:block6-fwd-dst\"\n"
    "\t}\n"
    "}\n";

constexpr char kIpt4BlocksOnly[] =
    "*filter\n"
    ":WARDEN-INPUT - [0:0]\n"
    ":WARDEN-OUTPUT - [0:0]\n"
    ":WARDEN-FORWARD - [0:0]\n"
    "-A WARDEN-INPUT -s 198.19.0.0/16 -m comment --comment \"warden:block-in 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-OUTPUT -d 198.19.0.0/16 -m comment --comment \"warden:block-out 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-FORWARD -s 198.19.0.0/16 -m comment --comment \"warden:block-fwd-src 198.19.0.0/16\" -j DROP\n"
    "-A WARDEN-FORWARD -d 198.19.0.0/16 -m comment --comment \"warden:block-fwd-dst 198.19.0.0/16\" -j DROP\n"
    "COMMIT\n";

constexpr char kIpt4NoV4Controller[] =
    "*filter\n"
    ":WARDEN-INPUT - [0:0]\n"
    ":WARDEN-OUTPUT - [0:0]\n"
    ":WARDEN-FORWARD - [0:0]\n"
    "-A WARDEN-INPUT -i lo -m comment --comment \"warden:lo-in\" -j ACCEPT\n"
    "-A WARDEN-INPUT -d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68 -m comment --comment \"warden:dhcp4-in broadcast\" -j ACCEPT\n"
    "-A WARDEN-INPUT -m comment --comment \"warden:isolate-in\" -j DROP\n"
    "-A WARDEN-OUTPUT -o lo -m comment --comment \"warden:lo-out\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -m comment --comment \"warden:dhcp4-out broadcast\" -j ACCEPT\n"
    "-A WARDEN-OUTPUT -m comment --comment \"warden:isolate-out\" -j DROP\n"
    "-A WARDEN-FORWARD -m comment --comment \"warden:isolate-fwd\" -j DROP\n"
    "-I INPUT 1 -j WARDEN-INPUT\n"
    "-I OUTPUT 1 -j WARDEN-OUTPUT\n"
    "-I FORWARD 1 -j WARDEN-FORWARD\n"
    "COMMIT\n";
// clang-format on

TEST(NftScript, RepresentativePolicy) {
  EXPECT_EQ(buildNftScript(representative(), kInterfaces), kNftFull);
}

TEST(NftScript, EmptyStateOnlyDeletesTheTable) {
  EXPECT_EQ(buildNftScript(ContainmentState{}, kInterfaces),
            "add table inet warden\n"
            "delete table inet warden\n"
            "add table netdev warden\n"
            "delete table netdev warden\n");
}

TEST(NftScript, OneInterfaceIsWrittenTheWayNftPrintsIt) {
  const std::string script = buildNftScript(representative(), {"lo", "wfw0"});
  EXPECT_NE(script.find("type filter hook egress device \"wfw0\" priority -500;"),
            std::string::npos);
  EXPECT_NE(script.find("type filter hook ingress device \"wfw0\" priority -500;"),
            std::string::npos);
}

TEST(NftScript, NoNetdevTableWithoutAnInterfaceOrWithoutIsolation) {
  EXPECT_EQ(buildNftScript(representative(), {"lo"}).find("table netdev warden {"),
            std::string::npos);
  EXPECT_EQ(buildNftScript(blocksOnly(), kInterfaces).find("table netdev warden {"),
            std::string::npos);
}

TEST(NftScript, InterfaceNamesAreNeverPastedRaw) {
  EXPECT_TRUE(nftSafeInterfaceName("eth0"));
  EXPECT_TRUE(nftSafeInterfaceName("veth-a.100"));
  EXPECT_FALSE(nftSafeInterfaceName(""));
  EXPECT_FALSE(nftSafeInterfaceName("a\"}; flush ruleset"));
  EXPECT_FALSE(nftSafeInterfaceName("sixteen-chars-xx"));
  EXPECT_FALSE(nftSafeInterfaceName("tab\tname"));
  const std::string script = buildNftScript(representative(), kInterfaces);
  EXPECT_EQ(script.find("eth\""), std::string::npos);
}

TEST(NftScript, DhcpWithoutALeaseIsBroadcastOnly) {
  ContainmentState st = representative();
  st.isolation->dhcp_servers.clear();
  const std::string script = buildNftScript(st, kInterfaces);
  EXPECT_NE(script.find("ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept"),
            std::string::npos);
  EXPECT_EQ(script.find("dhcp4-in server"), std::string::npos);
}

TEST(NftScript, NeverRouterAdvertisementsOrRedirectsOut) {
  const std::string script = buildNftScript(representative(), kInterfaces);
  for (const std::string chain : {"output", "egress"}) {
    const std::size_t from = script.find("chain " + chain + " {");
    const std::string body = script.substr(from, script.find("\t}\n", from) - from);
    EXPECT_EQ(body.find("nd-router-advert"), std::string::npos) << chain;
    EXPECT_EQ(body.find("nd-redirect"), std::string::npos) << chain;
  }
}

TEST(NftScript, BlocksWithoutIsolationHaveNoIsolationRules) {
  EXPECT_EQ(buildNftScript(blocksOnly(), kInterfaces), kNftBlocksOnly);
}

TEST(NftScript, BlockOrderAndDuplicatesDoNotChangeTheScript) {
  ContainmentState a = representative();
  ContainmentState b = a;
  std::reverse(b.blocked.begin(), b.blocked.end());
  b.blocked.push_back(prefix("198.19.200.0/24"));  // covered by 198.19.0.0/16
  EXPECT_EQ(buildNftScript(a, kInterfaces), buildNftScript(b, kInterfaces));
}

TEST(NftScript, NoEstablishedException) {
  const std::string script = buildNftScript(representative(), kInterfaces);
  EXPECT_EQ(script.find("ct state"), std::string::npos);
  EXPECT_EQ(script.find("established"), std::string::npos);
}

TEST(IptablesRestore, Ipv4WithoutJumps) {
  EXPECT_EQ(buildIptablesRestore(representative(), AF_INET, false, false), kIpt4Full);
}

TEST(IptablesRestore, ChainsPresentChangeNothingWhenApplying) {
  // Declaring a chain creates or flushes it, so presence only matters for removal.
  EXPECT_EQ(buildIptablesRestore(representative(), AF_INET, true, false), kIpt4Full);
}

TEST(IptablesRestore, Ipv6WithJumpsPresent) {
  EXPECT_EQ(buildIptablesRestore(representative(), AF_INET6, true, true), kIpt6Full);
}

TEST(IptablesRestore, Ipv6WithoutJumpsAddsThem) {
  std::string expected = kIpt6Full;
  expected.insert(expected.rfind("COMMIT\n"),
                  "-I INPUT 1 -j WARDEN-INPUT\n"
                  "-I OUTPUT 1 -j WARDEN-OUTPUT\n"
                  "-I FORWARD 1 -j WARDEN-FORWARD\n");
  EXPECT_EQ(buildIptablesRestore(representative(), AF_INET6, true, false), expected);
}

TEST(IptablesRestore, BlocksOnlyHaveNoFinalDrop) {
  EXPECT_EQ(buildIptablesRestore(blocksOnly(), AF_INET, true, true), kIpt4BlocksOnly);
}

TEST(IptablesRestore, IsolationWithoutControllerInThisFamily) {
  ContainmentState st;
  IsolationPolicy iso;
  iso.controller_addresses = {prefix("2001:db8::1")};
  iso.controller_port = 443;
  st.isolation = iso;
  EXPECT_EQ(buildIptablesRestore(st, AF_INET, false, false), kIpt4NoV4Controller);
}

TEST(IptablesRestore, EmptyStateRemovesJumpsAndChains) {
  EXPECT_EQ(buildIptablesRestore(ContainmentState{}, AF_INET, true, true),
            "*filter\n"
            "-D INPUT -j WARDEN-INPUT\n"
            "-D OUTPUT -j WARDEN-OUTPUT\n"
            "-D FORWARD -j WARDEN-FORWARD\n"
            "-F WARDEN-INPUT\n"
            "-F WARDEN-OUTPUT\n"
            "-F WARDEN-FORWARD\n"
            "-X WARDEN-INPUT\n"
            "-X WARDEN-OUTPUT\n"
            "-X WARDEN-FORWARD\n"
            "COMMIT\n");
}

TEST(IptablesRestore, EmptyStateWithChainsButNoJumps) {
  EXPECT_EQ(buildIptablesRestore(ContainmentState{}, AF_INET6, true, false),
            "*filter\n"
            "-F WARDEN-INPUT\n"
            "-F WARDEN-OUTPUT\n"
            "-F WARDEN-FORWARD\n"
            "-X WARDEN-INPUT\n"
            "-X WARDEN-OUTPUT\n"
            "-X WARDEN-FORWARD\n"
            "COMMIT\n");
}

TEST(IptablesRestore, EmptyStateWithNothingPresentIsANoOp) {
  EXPECT_EQ(buildIptablesRestore(ContainmentState{}, AF_INET, false, false), "*filter\nCOMMIT\n");
}

}  // namespace
}  // namespace warden
