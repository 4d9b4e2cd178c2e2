// The `warden` operator CLI: the command line (CLI11) and which verb each subcommand runs.
// main() only calls runCli(); the verbs live in one file per group beside this one.
#pragma once

namespace warden::cli {

// Parses argv, runs the one verb it names and returns the exit code (exit_codes.h).
int runCli(int argc, char** argv);

}  // namespace warden::cli
