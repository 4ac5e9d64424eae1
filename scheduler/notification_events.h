// Which webhook events a run's end yields, and their JSON bodies: run.failed
// (a real run ended FAILED), failures.new (it created failure-queue
// entries) and run.recovered (the first real run of a source to succeed
// after one that failed). Pure: the state it keeps is each source's last
// outcome; Notifier (notifier.h) feeds it and delivers what it returns.
// The rules are documented in docs/operations.md ("Notifications").
#ifndef MFLSYNC_SCHEDULER_NOTIFICATION_EVENTS_H_
#define MFLSYNC_SCHEDULER_NOTIFICATION_EVENTS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mflsync/v1/scheduler.pb.h"
#include "scheduler/failure_queue.h"

namespace mflsync::scheduler {

inline constexpr char kRunFailed[] = "run.failed";
inline constexpr char kFailuresNew[] = "failures.new";
inline constexpr char kRunRecovered[] = "run.recovered";

// One event to deliver: its name, its source and its JSON body.
struct Notification {
  std::string event;
  std::string source;
  nlohmann::json body;
};

class NotificationEvents {
 public:
  // The failure-queue entries a body lists at most (failures.new).
  static constexpr int kListedFailures = 5;

  // What the source's last real run (before this process saw any) was:
  // the id of a failed one, or nullopt when it succeeded (or none ran).
  // Seeds run.recovered across a restart; only for sources not seen yet.
  void Seed(const std::string& source, std::optional<std::string> failed_run);
  bool Seeded(const std::string& source) const { return last_failed_.count(source) > 0; }

  // The events of `run` ending, given the entries it created, in order:
  // run.failed, failures.new, run.recovered. A dry run yields none; a
  // cancelled run yields failures.new at most and changes no source state.
  std::vector<Notification> RunEnded(const v1::Run& run, const NewFailures& created);

 private:
  // By source: the failed run a recovery would follow (nullopt: none).
  std::map<std::string, std::optional<std::string>> last_failed_;
};

// The body every event shares: event, source, the run (id, trigger, state,
// times in UTC, counts) and a one-line summary.
nlohmann::json EventBody(const std::string& event, const v1::Run& run,
                         const std::string& summary);

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_NOTIFICATION_EVENTS_H_
