// Push mode: parses a pushed FHIR payload, hands its records to the
// scheduler's record flow (PushRecords: the same validate → map → reconcile
// → write path, failure queue and newest-version rule as a sync run) and
// builds the openHIM mediator answer (application/json+openhim): status, the
// response for the client, one orchestration per openIMIS write, and the
// refused entries with reasons and their failure-queue ids.
#ifndef MFLSYNC_MEDIATOR_PUSH_PROCESSOR_H_
#define MFLSYNC_MEDIATOR_PUSH_PROCESSOR_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "mediator/live_settings.h"
#include "mediator/peers.h"
#include "mediator/push_bundle.h"

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

struct PushTally;

class PushProcessor {
 public:
  // `peers` must outlive the processor.
  PushProcessor(std::string urn, SuitePeers* peers);

  // Processes one push; never fails: every problem becomes a Failed or
  // Completed-with-error(s) answer that says what, where and why.
  nlohmann::json Process(absl::string_view body, const Settings& settings,
                         const std::string& transaction_id);

 private:
  // A Failed answer for a push the scheduler did not take.
  nlohmann::json PeerFailure(const absl::Status& s, const PushTally& tally,
                             const std::string& transaction_id) const;
  nlohmann::json Answer(const PushedPayload& payload, const PushTally& tally,
                        const std::string& transaction_id) const;

  std::string urn_;
  SuitePeers* peers_;
};

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_PUSH_PROCESSOR_H_
