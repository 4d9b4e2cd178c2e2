// `warden audit verify`: checks an exported action log offline, and with --evidence the
// evidence items copied from the store against the receipts in that log.
#pragma once

#include <string>
#include <vector>

#include "controller/cli/client.h"

namespace warden::cli {

// Exit 0 verified, 1 the log (or an evidence item) does not verify, 2 unreadable input.
// `vkey_path`: the auditor's copy of log.vkey ("": trust the key in the file). Evidence needs it.
int auditVerify(const Globals& g, const std::string& file, const std::string& vkey_path,
                const std::vector<std::string>& checkpoint_paths,
                const std::vector<std::string>& evidence_paths);

}  // namespace warden::cli
