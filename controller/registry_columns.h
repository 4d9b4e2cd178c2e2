// The registry's row layouts, shared by registry.cc and registry_pages.cc; internal to them.
#pragma once

#include "common/sqlite.h"
#include "controller/registry.h"

namespace warden::registry_columns {

// Read by Registry::readAction, in this order.
inline constexpr char kActionColumns[] =
    "id, host_id, kind, state, requested_by, reason, params, created_ms, expires_ms, "
    "finished_ms, command, command_signature, receipt, receipt_signature, message, log_index";
// kActionColumns with the receipt and its signature left out (NULL), for lists that show
// neither: a receipt can be 2 MiB.
inline constexpr char kActionColumnsWithoutReceipt[] =
    "id, host_id, kind, state, requested_by, reason, params, created_ms, expires_ms, "
    "finished_ms, command, command_signature, NULL, NULL, message, log_index";
// How many columns those are: a query's further columns start here.
inline constexpr int kActionColumnCount = 16;

// Read by readHost, in this order.
inline constexpr char kHostColumns[] =
    "host_id, cert_fingerprint, receipt_public_key, enrolled_ms, last_seen_ms, peer, facts, "
    "containment, prev_cert_fingerprint, cert_not_after_ms";

inline HostRecord readHost(Statement& st) {
  HostRecord h;
  h.host_id = st.text(0);
  h.cert_fingerprint = st.text(1);
  h.receipt_public_key = st.text(2);
  h.enrolled_ms = st.integer(3);
  h.last_seen_ms = st.integer(4);
  h.peer = st.text(5);
  h.facts.ParseFromString(st.text(6));
  h.containment = st.text(7);
  h.prev_cert_fingerprint = st.text(8);
  h.cert_not_after_ms = st.integer(9);
  return h;
}

}  // namespace warden::registry_columns
