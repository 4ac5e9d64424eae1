// mflsync-writer: writes health facilities to openIMIS and keeps its index.
#include "writer/writer_module.h"
#include "suite/suite_environment.h"

int main(int argc, char** argv) {
  return mflsync::ServiceMain(argc, argv, mflsync::writer::WriterSpec(),
                              mflsync::SuiteEnvironment());
}
