// Completes an openHIM transaction that the mediator first answered with
// status Processing. openHIM stores the mediator's answer and sets the
// transaction's final status after it has replied to the caller, unawaited
// (openhim-core 8.5.0, messageStore.storeResponse and setFinalStatus), so a
// PUT /transactions/{id} sent too early is overwritten back to Processing.
// The completer waits until openHIM holds the stored answer, sends the final
// update as additions (orchestrations pushed, properties set key by key, so
// openHIM's own route orchestration and properties stay), then reads the
// transaction back and re-sends the status if openHIM reverted it.
#ifndef MFLSYNC_MEDIATOR_TRANSACTION_COMPLETER_H_
#define MFLSYNC_MEDIATOR_TRANSACTION_COMPLETER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mediator/openhim_api.h"

namespace mflsync::mediator {

struct CompleterOptions {
  // Longest wait for openHIM to store the Processing answer.
  absl::Duration wait_for_stored = absl::Seconds(30);
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Read-backs after the update (each after the previous one); a status
  // found reverted to Processing is sent again.
  std::vector<absl::Duration> verify_after = {absl::Milliseconds(250), absl::Seconds(1),
                                              absl::Seconds(3)};
};

// What the final update says: status, response, the orchestrations to add,
// the properties to set, and an error (only when auto-retry is wanted: an
// update carrying an error puts the transaction in openHIM's retry queue).
struct TransactionOutcome {
  std::string status;
  nlohmann::json response = nlohmann::json::object();
  nlohmann::json orchestrations = nlohmann::json::array();
  nlohmann::json properties = nlohmann::json::object();
  nlohmann::json error;  // null: none
};

class TransactionCompleter {
 public:
  TransactionCompleter(std::shared_ptr<const OpenHimApi> api, CompleterOptions options);

  // Waits, updates and verifies (see the file comment). `cancelled` is polled
  // while waiting; a cancelled wait is CANCELLED. An error says which step
  // failed and openHIM's answer.
  absl::Status Complete(const std::string& transaction_id, const TransactionOutcome& outcome,
                        const std::function<bool()>& cancelled) const;

  // The PUT /transactions/{id} body: status, response, error when set,
  // {"$push": {"orchestrations": {"$each": [...]}}} and "properties.<key>"
  // for each property.
  static nlohmann::json UpdateBody(const TransactionOutcome& outcome);

 private:
  absl::StatusOr<nlohmann::json> Read(const std::string& transaction_id) const;
  absl::Status WaitUntilStored(const std::string& transaction_id,
                               const std::function<bool()>& cancelled) const;
  absl::Status Put(const std::string& transaction_id, const nlohmann::json& body) const;
  absl::Status Verify(const std::string& transaction_id, const std::string& status,
                      const std::function<bool()>& cancelled) const;

  std::shared_ptr<const OpenHimApi> api_;
  CompleterOptions options_;
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_TRANSACTION_COMPLETER_H_
