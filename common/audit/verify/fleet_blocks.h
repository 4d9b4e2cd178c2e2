// The addresses blocked fleet-wide at each point of the log: what operators' all-hosts block
// and unblock requests put in force, so that the controller's own dispatches (the blocks it
// sends a host that enrolls) can be checked against them.
//
// An operator's fleet-wide block or unblock (all_hosts) changes the fleet's blocks when its
// request entry is seen. The controller changes its fleet-wide list right after logging the
// request, before it dispatches anything (controller/dispatch), so a host that enrolls meanwhile
// is already sent the new list; an --all request can also have no dispatch at all (no host
// enrolled yet) and still be in force.
//
// A refusal of the request by its operator (ref = its id), logged before any of its dispatches,
// undoes the change: the controller refused it while validating it, before touching the list.
// After its first dispatch the change is settled: a refusal then means dispatching failed part
// way, and the controller keeps the list as changed. (A controller that fails while writing the
// list itself and refuses then is not told apart: its later fleet-wide blocks of those
// addresses are reported.)
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace warden::audit_verify {

// The fleet-wide changes so far, as described above.
class FleetBlocks {
 public:
  // The fleet-wide request `request_id` (entry `index`) blocks or unblocks `addresses`
  // (normalized).
  void change(const std::string& request_id, std::uint64_t index, bool block,
              std::vector<std::string> addresses);
  // Its first dispatch: no refusal undoes the request's change any more.
  void settle(const std::string& request_id);
  // Its operator refused it: its change is undone, unless settled (or it changed nothing).
  void undo(const std::string& request_id);
  // In force: the last change of `address` still standing is a block.
  bool blocked(const std::string& address) const;

 private:
  // For each normalized address, the fleet requests that changed it, in log order (by the
  // request entry's index). Operators make few fleet-wide requests, so keeping them all costs
  // little.
  struct Change {
    std::uint64_t request_index = 0;
    bool block = false;
  };
  struct Request {
    std::uint64_t index = 0;
    std::vector<std::string> addresses;
  };
  std::unordered_map<std::string, std::vector<Change>> changes_;
  std::unordered_map<std::string, Request> unsettled_;  // by request id
};

}  // namespace warden::audit_verify
