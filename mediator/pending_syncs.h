// Finds the sync transactions openHIM still holds as Processing: ones the
// mediator answered (202, the run id in the transaction's properties) but
// did not complete, because it stopped or restarted before the run ended.
// A starting mediator watches those runs again (SyncRunner::ResumePending).
#ifndef MFLSYNC_MEDIATOR_PENDING_SYNCS_H_
#define MFLSYNC_MEDIATOR_PENDING_SYNCS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mediator/openhim_api.h"

namespace mflsync::mediator {

struct PendingSync {
  std::string transaction_id;
  std::string run_id;
};

// The Processing transactions of the channel named `channel_name` (none when
// openHIM has no such channel), newest first, at most `limit`. Transactions
// without a run_id property (not started by a mediator answer) are left out
// and logged.
absl::StatusOr<std::vector<PendingSync>> FindPendingSyncs(const OpenHimApi& api,
                                                          const std::string& channel_name,
                                                          int limit);

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_PENDING_SYNCS_H_
