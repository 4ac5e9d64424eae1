// mflsync: the command-line client for people (see `mflsync --help`).
#include <unistd.h>

#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return mflsync::cli::RunCli(args, std::cout, std::cerr, isatty(STDOUT_FILENO) != 0);
}
