#include "mediator/transaction_completer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "common/url.h"
#include "mediator/cancellable_sleep.h"
#include "mediator/push_processor.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;

}  // namespace

TransactionCompleter::TransactionCompleter(std::shared_ptr<const OpenHimApi> api,
                                           CompleterOptions options)
    : api_(std::move(api)), options_(std::move(options)) {}

json TransactionCompleter::UpdateBody(const TransactionOutcome& outcome) {
  json body = {{"status", outcome.status}, {"response", outcome.response}};
  if (!outcome.error.is_null()) body["error"] = outcome.error;
  if (!outcome.orchestrations.empty())
    body["$push"] = {{"orchestrations", {{"$each", outcome.orchestrations}}}};
  for (const auto& [key, value] : outcome.properties.items())
    body[absl::StrCat("properties.", key)] = value;
  return body;
}

absl::StatusOr<json> TransactionCompleter::Read(const std::string& transaction_id) const {
  const std::string path = absl::StrCat("/transactions/", PercentEncode(transaction_id));
  absl::StatusOr<HttpResponse> got = api_->Call("GET", path, nullptr);
  if (!got.ok()) return got.status();
  if (got->status != 200) return api_->UnexpectedAnswer("GET /transactions/{id}", *got);
  absl::StatusOr<json> tx = ParseJson(got->body);
  if (!tx.ok() || !tx->is_object())
    return absl::UnavailableError(absl::StrCat("GET /transactions/", transaction_id, " at ",
                                               api_->api_url(), " is not a JSON object"));
  return *std::move(tx);
}

absl::Status TransactionCompleter::WaitUntilStored(const std::string& transaction_id,
                                                   const std::function<bool()>& cancelled) const {
  absl::Time deadline = absl::Now() + options_.wait_for_stored;
  absl::Status last = absl::OkStatus();
  while (true) {
    absl::StatusOr<json> tx = Read(transaction_id);
    if (tx.ok() && tx->contains("response") && (*tx)["response"].is_object()) {
      return absl::OkStatus();
    }
    last = tx.ok() ? absl::OkStatus() : tx.status();
    if (absl::Now() >= deadline) break;
    if (!SleepUnlessCancelled(options_.poll_interval, options_.poll_interval, cancelled))
      return absl::CancelledError("the mediator is stopping");
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "openHIM did not store the mediator's answer to transaction ", transaction_id,
      " within ", absl::FormatDuration(options_.wait_for_stored),
      last.ok() ? std::string() : absl::StrCat(" (last read: ", last.message(), ")")));
}

absl::Status TransactionCompleter::Put(const std::string& transaction_id,
                                       const json& body) const {
  absl::StatusOr<HttpResponse> put = api_->Call(
      "PUT", absl::StrCat("/transactions/", PercentEncode(transaction_id)), body);
  if (!put.ok()) return put.status();
  if (put->status != 200) return api_->UnexpectedAnswer("PUT /transactions/{id}", *put);
  return absl::OkStatus();
}

absl::Status TransactionCompleter::Verify(const std::string& transaction_id,
                                          const std::string& status,
                                          const std::function<bool()>& cancelled) const {
  for (absl::Duration wait : options_.verify_after) {
    if (!SleepUnlessCancelled(wait, options_.poll_interval, cancelled))
      return absl::CancelledError("the mediator is stopping");
    absl::StatusOr<json> tx = Read(transaction_id);
    if (!tx.ok()) return tx.status();
    if (tx->value("status", "") != kStatusProcessing) continue;
    // openHIM's setFinalStatus landed after our update: say it again.
    absl::Status again = Put(transaction_id, {{"status", status}});
    if (!again.ok()) return again;
  }
  return absl::OkStatus();
}

absl::Status TransactionCompleter::Complete(const std::string& transaction_id,
                                            const TransactionOutcome& outcome,
                                            const std::function<bool()>& cancelled) const {
  if (absl::Status s = WaitUntilStored(transaction_id, cancelled); !s.ok()) return s;
  if (absl::Status s = Put(transaction_id, UpdateBody(outcome)); !s.ok()) return s;
  return Verify(transaction_id, outcome.status, cancelled);
}

}  // namespace mflsync::mediator
