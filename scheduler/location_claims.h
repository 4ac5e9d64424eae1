// Which MFL Locations are being processed right now, across every run of
// the scheduler (syncs, retries, pushes): a batch claims all its Locations
// before it is mapped and releases them once its outcomes are committed, so
// no two batches ever work on one Location at once and the newest-version
// check of a batch always sees what the batch before it wrote.
#ifndef MFLSYNC_SCHEDULER_LOCATION_CLAIMS_H_
#define MFLSYNC_SCHEDULER_LOCATION_CLAIMS_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mflsync::scheduler {

class LocationClaims {
 public:
  // Claims every Location of `location_ids` (of `source_id`) at once,
  // waiting while any of them is claimed by another batch. Returns false,
  // claiming nothing, once `give_up` returns true (checked at least every
  // 50 ms). A Location may appear more than once in `location_ids`.
  bool Claim(const std::string& source_id, const std::vector<std::string>& location_ids,
             const std::function<bool()>& give_up);
  // Releases what one Claim took.
  void Release(const std::string& source_id, const std::vector<std::string>& location_ids);
  // Locations claimed now (for tests and diagnostics).
  size_t size() const;

 private:
  static std::string Key(const std::string& source_id, const std::string& location_id);
  bool AnyClaimed(const std::vector<std::string>& keys) const;  // mu_ held

  mutable std::mutex mu_;
  std::condition_variable released_;
  std::unordered_map<std::string, int> claimed_;  // key → claims held
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_LOCATION_CLAIMS_H_
