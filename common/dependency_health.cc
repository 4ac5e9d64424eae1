#include "common/dependency_health.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/utf8.h"

namespace mflsync {

absl::Status OverranStatus(absl::Duration took, absl::Duration timeout) {
  return absl::DeadlineExceededError(absl::StrCat("the check took ", absl::FormatDuration(took),
                                                  ", longer than its ",
                                                  absl::FormatDuration(timeout), " time-out"));
}

DependencyHealth::DependencyHealth(std::vector<DependencyProbe> probes,
                                   DependencyHealthOptions options, ServingSink serving_sink,
                                   ResultSink result_sink)
    : probes_(std::move(probes)),
      options_(options),
      serving_sink_(std::move(serving_sink)),
      result_sink_(std::move(result_sink)) {
  absl::MutexLock lock(&mu_);
  for (const DependencyProbe& probe : probes_) states_.push_back({.name = probe.name});
}

DependencyHealth::~DependencyHealth() { Stop(); }

void DependencyHealth::CheckNow() {
  std::vector<std::thread> round;
  for (size_t i = 0; i < probes_.size(); ++i) round.emplace_back([this, i] { CheckOne(i); });
  for (std::thread& t : round) t.join();
  absl::MutexLock lock(&mu_);
  if (reported_ == -1 && serving_sink_) {
    reported_ = AllOk() ? 1 : 0;
    serving_sink_(reported_ == 1);
  }
}

void DependencyHealth::Start() {
  CheckNow();
  for (size_t i = 0; i < probes_.size(); ++i) threads_.emplace_back([this, i] { Loop(i); });
}

void DependencyHealth::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool DependencyHealth::serving() const {
  absl::MutexLock lock(&mu_);
  return AllOk();
}

std::vector<DependencyState> DependencyHealth::States() const {
  absl::MutexLock lock(&mu_);
  return states_;
}

bool DependencyHealth::AllOk() const {
  for (const DependencyState& s : states_) {
    if (!s.status.ok()) return false;
  }
  return true;
}

void DependencyHealth::CheckOne(size_t index) {
  const absl::Time start = absl::Now();
  absl::Status status = probes_[index].check(options_.timeout);
  const absl::Duration took = absl::Now() - start;
  // A little slack for scheduling; a check that ignores its time-out fails.
  if (status.ok() && took > options_.timeout + absl::Milliseconds(500)) {
    status = OverranStatus(took, options_.timeout);
  }
  Record(index, std::move(status));
}

void DependencyHealth::Loop(size_t index) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.period)) return;
    }
    CheckOne(index);
  }
}

void DependencyHealth::Record(size_t index, absl::Status status) {
  const std::string& name = probes_[index].name;
  if (result_sink_) result_sink_(name, status.ok());
  absl::MutexLock lock(&mu_);
  DependencyState& state = states_[index];
  const bool first = state.checked_at == absl::InfinitePast();
  const bool changed = first || state.status.ok() != status.ok();
  state.checked_at = absl::Now();
  if (changed) state.since = state.checked_at;
  if (!status.ok()) {
    status = absl::Status(status.code(), OneLine(Redact(status.message()), 500));
  }
  if (changed && !status.ok()) {
    LogWarning("dependency unreachable: not serving",
               {{"dependency", name}, {"cause", std::string(status.message())}});
  } else if (changed && !first) {
    LogInfo("dependency reachable again", {{"dependency", name}});
  }
  state.status = std::move(status);
  const int serving = AllOk() ? 1 : 0;
  if (reported_ != -1 && serving != reported_ && serving_sink_) {
    reported_ = serving;
    serving_sink_(serving == 1);
  }
}

}  // namespace mflsync
