// The scheduler's configurations that start-up refuses, each refused by
// --check-config too, with the same message (the cron hour of 25).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/support/config_cases.h"

namespace mflsync::testing {
namespace {

std::map<std::string, std::string> Base() {
  return {{"MFLSYNC_LISTEN_ADDRESS", "127.0.0.1:0"},
          {"MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED", "true"},
          {"MFLSYNC_STATE_DB", ::testing::TempDir() + "/scheduler-config-test.db"},
          {"MFLSYNC_SOURCES__KENYA__SCHEDULE", "0 2 * * *"},
          {"MFLSYNC_SOURCES__KENYA__TIME_ZONE", "Africa/Nairobi"}};
}

TEST(SchedulerConfigTest, TheBaseIsAccepted) { ExpectAccepted(MFLSYNC_SERVICE_BIN, Base()); }

TEST(SchedulerConfigTest, CheckConfigRefusesWhatStartUpRefuses) {
  ExpectEachRefusedAlike(
      MFLSYNC_SERVICE_BIN, Base(),
      {{"a cron hour of 25", {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "0 25 * * *"}},
        "sources.kenya.schedule: cron hour field: '25' is not a value from 0 to 23"},
       {"an unknown shorthand", {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "@fortnightly"}},
        "sources.kenya.schedule: schedule '@fortnightly' is not a shorthand"},
       {"an interval under a second", {{"MFLSYNC_SOURCES__KENYA__SCHEDULE", "500ms"}},
        "sources.kenya.schedule: schedule interval '500ms' must be at least 1s"},
       {"an unknown time zone", {{"MFLSYNC_SOURCES__KENYA__TIME_ZONE", "Europe/Berln"}},
        "sources.kenya.time_zone: 'Europe/Berln' is not a known time zone"},
       {"reruns backing off past their cap",
        {{"MFLSYNC_RERUN__INITIAL_BACKOFF", "1h"}, {"MFLSYNC_RERUN__MAX_BACKOFF", "30m"}},
        "rerun.initial_backoff must be positive and at most rerun.max_backoff"},
       {"retries backing off past their cap",
        {{"MFLSYNC_RETRY__INITIAL_BACKOFF", "2h"}},
        "retry.initial_backoff must be positive and at most retry.max_backoff"},
       {"no change history", {{"MFLSYNC_CHANGE_HISTORY__RETENTION", "0s"}},
        "change_history.retention must be positive"},
       {"a misspelled key variable", {{"MFLSYNC_SOURCES__KENYA__SCHEDUEL", "6h"}},
        "MFLSYNC_SOURCES__KENYA__SCHEDUEL (did you mean MFLSYNC_SOURCES__KENYA__SCHEDULE?)"},
       {"a variable nobody reads", {{"MFLSYNC_SOMETHING_ELSE", "1"}},
        "environment: MFLSYNC_SOMETHING_ELSE is not a variable any part of mflsync reads"}});
}

}  // namespace
}  // namespace mflsync::testing
