// mflsync-scheduler: runs the sync: schedules, run history, failure queue.
#include "scheduler/scheduler_module.h"
#include "suite/suite_environment.h"

int main(int argc, char** argv) {
  return mflsync::ServiceMain(argc, argv, mflsync::scheduler::SchedulerSpec(),
                              mflsync::SuiteEnvironment());
}
