// mflsync-mapper: validates MFL facilities and maps them to openIMIS.
#include "mapper/mapper_module.h"
#include "suite/suite_environment.h"

int main(int argc, char** argv) {
  return mflsync::ServiceMain(argc, argv, mflsync::mapper::MapperSpec(),
                              mflsync::SuiteEnvironment());
}
