// Threads started one by one for short jobs, each joined soon after its job
// ends (when the next one starts, or at JoinAll): a finished thread that is
// never joined keeps its stack, so a long run that starts a thread per job
// would hold every stack until its end. Thread-safe.
#ifndef MFLSYNC_COMMON_THREAD_GROUP_H_
#define MFLSYNC_COMMON_THREAD_GROUP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace mflsync {

class ThreadGroup {
 public:
  ThreadGroup() = default;
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  ~ThreadGroup() { JoinAll(); }

  // Joins the threads whose jobs have ended, then runs `job` on a new one.
  void Start(std::function<void()> job);
  // Waits for every job and joins every thread.
  void JoinAll();
  // Threads started and not yet joined (running, or ended and waiting to be).
  size_t unjoined() const;
  // Threads whose jobs have ended, waiting to be joined.
  size_t ended() const;

 private:
  // Joins and forgets the threads listed in finished_ (mu_ held on entry,
  // released while joining).
  void JoinFinished(std::unique_lock<std::mutex>& lock);

  mutable std::mutex mu_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::thread> threads_;
  std::vector<uint64_t> finished_;  // jobs ended, threads not yet joined
};

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_THREAD_GROUP_H_
