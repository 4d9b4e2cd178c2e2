// The `warden` CLI's public face, kept at this path for the tests that include it: runCli
// (app.h), the exit codes (exit_codes.h) and parseDuration (duration.h).
#pragma once

#include "controller/cli/app.h"
#include "controller/cli/duration.h"
#include "controller/cli/exit_codes.h"
