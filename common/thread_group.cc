#include "common/thread_group.h"

#include <utility>
#include <vector>

namespace mflsync {

void ThreadGroup::Start(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  JoinFinished(lock);
  const uint64_t id = next_id_++;
  threads_.emplace(id, std::thread([this, id, job = std::move(job)] {
                     job();
                     std::lock_guard<std::mutex> done(mu_);
                     finished_.push_back(id);
                   }));
}

void ThreadGroup::JoinFinished(std::unique_lock<std::mutex>& lock) {
  std::vector<std::thread> ended;
  for (uint64_t id : finished_) {
    auto it = threads_.find(id);
    if (it == threads_.end()) continue;  // joined by JoinAll meanwhile
    ended.push_back(std::move(it->second));
    threads_.erase(it);
  }
  finished_.clear();
  lock.unlock();
  for (std::thread& t : ended) t.join();  // each is past its job: a short wait
  lock.lock();
}

void ThreadGroup::JoinAll() {
  std::unique_lock<std::mutex> lock(mu_);
  std::map<uint64_t, std::thread> all = std::move(threads_);
  threads_.clear();
  lock.unlock();
  for (auto& [id, t] : all) t.join();
  lock.lock();
  // Every joined thread has listed itself before it ended.
  std::erase_if(finished_, [&all](uint64_t id) { return all.count(id) > 0; });
}

size_t ThreadGroup::unjoined() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

size_t ThreadGroup::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_.size();
}

}  // namespace mflsync
