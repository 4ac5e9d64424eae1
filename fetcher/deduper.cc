#include "fetcher/deduper.h"

#include "absl/strings/str_cat.h"

namespace mflsync::fetcher {

std::string Deduper::Key(const std::string& id, const std::string& version,
                         absl::Time last_updated) {
  if (!version.empty()) return absl::StrCat(id, "\x1fv", version);
  return absl::StrCat(id, "\x1ft", absl::ToUnixMicros(last_updated));
}

void Deduper::Insert(std::string key, absl::Time last_updated) {
  auto [it, inserted] = keys_.emplace(key, last_updated);
  if (inserted) by_time_.emplace(last_updated, std::move(key));
}

void Deduper::Prune() {
  if (frontier_ == absl::InfinitePast()) return;
  const absl::Time cutoff = frontier_ - window_;
  while (!by_time_.empty() && by_time_.begin()->first < cutoff) {
    keys_.erase(by_time_.begin()->second);
    by_time_.erase(by_time_.begin());
  }
}

void Deduper::Seed(const std::string& id, const std::string& version,
                   absl::Time last_updated) {
  Insert(Key(id, version, last_updated), last_updated);
}

bool Deduper::Offer(const std::string& id, const std::string& version,
                    absl::Time last_updated) {
  std::string key = Key(id, version, last_updated);
  if (keys_.count(key)) {
    ++dropped_;
    return false;
  }
  if (last_updated > frontier_) frontier_ = last_updated;
  Insert(std::move(key), last_updated);
  Prune();
  return true;
}

}  // namespace mflsync::fetcher
