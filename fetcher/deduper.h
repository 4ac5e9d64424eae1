// Drops repeated versions (same id and versionId, or same id and lastUpdated
// when the server sends no versionId) across pages and, through the keys the
// caller passes, across runs. It keeps only keys whose lastUpdated lies
// within the overlap window of the highest lastUpdated seen, so memory does
// not grow with the size of the MFL.
#ifndef MFLSYNC_FETCHER_DEDUPER_H_
#define MFLSYNC_FETCHER_DEDUPER_H_

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "absl/time/time.h"

namespace mflsync::fetcher {

class Deduper {
 public:
  explicit Deduper(absl::Duration window) : window_(window) {}

  // Remembers a version processed earlier (e.g. by the previous run).
  void Seed(const std::string& id, const std::string& version, absl::Time last_updated);

  // True the first time a version is offered, false for a repeat.
  bool Offer(const std::string& id, const std::string& version, absl::Time last_updated);

  size_t size() const { return keys_.size(); }
  int64_t dropped() const { return dropped_; }

 private:
  static std::string Key(const std::string& id, const std::string& version,
                         absl::Time last_updated);
  void Insert(std::string key, absl::Time last_updated);
  void Prune();

  const absl::Duration window_;
  absl::Time frontier_ = absl::InfinitePast();
  std::unordered_map<std::string, absl::Time> keys_;
  std::multimap<absl::Time, std::string> by_time_;
  int64_t dropped_ = 0;
};

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_DEDUPER_H_
