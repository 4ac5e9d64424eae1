// Push mode: runs a pushed FHIR payload through the same validate → map →
// reconcile → write path as a sync run and builds the openHIM mediator
// answer (application/json+openhim): status, the response for the client,
// one orchestration per openIMIS write, and the refused entries with reasons.
#ifndef MFLSYNC_MEDIATOR_PUSH_PROCESSOR_H_
#define MFLSYNC_MEDIATOR_PUSH_PROCESSOR_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "mediator/live_settings.h"
#include "mediator/peers.h"

namespace mflsync::mediator {

// openHIM mediator statuses.
inline constexpr char kStatusSuccessful[] = "Successful";
inline constexpr char kStatusCompletedWithErrors[] = "Completed with error(s)";
inline constexpr char kStatusFailed[] = "Failed";
inline constexpr char kStatusProcessing[] = "Processing";

// A mediator answer `{x-mediator-urn, status, response{status, headers,
// body, timestamp}, orchestrations, properties}` with `body` as a JSON text.
nlohmann::json MediatorAnswer(const std::string& urn, const std::string& status,
                              int http_status, const nlohmann::json& body);

class PushProcessor {
 public:
  // `peers` must outlive the processor.
  PushProcessor(std::string urn, SuitePeers* peers);

  // Processes one push; never fails: every problem becomes a Failed or
  // Completed-with-error(s) answer that says what, where and why.
  nlohmann::json Process(absl::string_view body, const Settings& settings,
                         const std::string& transaction_id);

 private:
  std::string urn_;
  SuitePeers* peers_;
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_PUSH_PROCESSOR_H_
