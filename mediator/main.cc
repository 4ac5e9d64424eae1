// mflsync-mediator: the suite's openHIM mediator (registration, heartbeat,
// live settings, push mode, openHIM-triggered sync runs).
#include "mediator/mediator_module.h"
#include "suite/suite_environment.h"

int main(int argc, char** argv) {
  return mflsync::ServiceMain(argc, argv, mflsync::mediator::MediatorSpec(),
                              mflsync::SuiteEnvironment());
}
