// warden: the operator CLI.
#include "controller/cli/cli.h"

int main(int argc, char** argv) { return warden::cli::runCli(argc, argv); }
