// The check that the kernel holds exactly the table Warden wrote: the text nft prints for
// `list table FAMILY NAME` (host state, which an attacker with root may have changed) parsed
// into its shape and compared with the shape of our own script. Pure text, like
// firewall_rules.h: unit-tested and fuzzed (tests/fuzz/agent_nft_table.cc) without netlink;
// the nftables backend (agent/os/linux/nftables_firewall.cc) runs it on every verification.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace warden {

// What a `table inet warden { ... }` block holds, as far as verification cares: per chain the
// hook line and the rules' comments (in order), per set its type/flags and elements.
struct TableShape {
  std::vector<std::string> chain_order;  // chain names; "?<line>" for anything else in the table
  std::map<std::string, std::vector<std::string>> chain_rules;  // comments, or "?<rule>"
  std::map<std::string, std::string> chain_hooks;
  std::vector<std::string> set_order;
  std::map<std::string, std::vector<std::string>> set_props;  // type/flags lines
  std::map<std::string, std::vector<std::string>> set_elements;
  std::string table_flags;  // "flags owner", or empty
};

// Parses the text nft prints for `list table FAMILY NAME` (and the table block of our own
// script, which is written in the same layout). Only the block of that table counts.
TableShape parseTable(const std::string& text, const std::string& family,
                      const std::string& name_of_table);

// OK when `listing` holds exactly the sets, chains and rules that `script` creates in table
// `family` `table_name`; FailedPrecondition naming the first difference otherwise.
absl::Status compareShapes(const std::string& script, const std::string& listing,
                           const std::string& family, const std::string& table_name);

}  // namespace warden
