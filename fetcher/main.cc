// mflsync-fetcher: streams changed facilities from the MFL (through openHIM).
#include "fetcher/fetcher_module.h"
#include "suite/suite_environment.h"

int main(int argc, char** argv) {
  return mflsync::ServiceMain(argc, argv, mflsync::fetcher::FetcherSpec(),
                              mflsync::SuiteEnvironment());
}
