#include "scheduler/location_claims.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace mflsync::scheduler {

std::string LocationClaims::Key(const std::string& source_id, const std::string& location_id) {
  return absl::StrCat(source_id.size(), ":", source_id, location_id);
}

bool LocationClaims::AnyClaimed(const std::vector<std::string>& keys) const {
  for (const std::string& k : keys) {
    if (claimed_.count(k)) return true;
  }
  return false;
}

bool LocationClaims::Claim(const std::string& source_id,
                           const std::vector<std::string>& location_ids,
                           const std::function<bool()>& give_up) {
  std::vector<std::string> keys;
  keys.reserve(location_ids.size());
  for (const std::string& id : location_ids) keys.push_back(Key(source_id, id));
  std::unique_lock<std::mutex> lock(mu_);
  while (AnyClaimed(keys)) {
    if (give_up()) return false;
    released_.wait_for(lock, std::chrono::milliseconds(50));
  }
  for (const std::string& k : keys) ++claimed_[k];
  return true;
}

void LocationClaims::Release(const std::string& source_id,
                             const std::vector<std::string>& location_ids) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& id : location_ids) {
      auto it = claimed_.find(Key(source_id, id));
      if (it != claimed_.end() && --it->second == 0) claimed_.erase(it);
    }
  }
  released_.notify_all();
}

size_t LocationClaims::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return claimed_.size();
}

}  // namespace mflsync::scheduler
