// warden: the operator CLI.
#include <unistd.h>

#include <cstdio>

#include "controller/cli/app.h"

int main(int argc, char** argv) {
  const int rc = warden::cli::runCli(argc, argv);
  // Straight out: no static destructors, no gRPC shutdown (see withClient in client.cc).
  std::fflush(nullptr);
  ::_exit(rc);
}
