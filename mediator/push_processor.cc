#include "mediator/push_processor.h"

#include <map>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/rejection.h"
#include "mediator/push_bundle.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;

std::string Now() { return FormatFhirInstant(absl::Now()); }

json ProtoJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return nullptr;
  absl::StatusOr<json> parsed = ParseJson(text);
  return parsed.ok() ? *parsed : json(nullptr);
}

json ReasonJson(const v1::Rejection& r) {
  return {{"fhir_path", r.fhir_path()},
          {"rule", r.rule()},
          {"value", r.value()},
          {"message", r.message()}};
}

json RejectedJson(const RejectedEntry& e) {
  json reasons = json::array();
  for (const v1::Rejection& r : e.reasons) reasons.push_back(ReasonJson(r));
  json out = {{"stage", e.stage}, {"reasons", reasons}};
  if (e.entry >= 0) out["entry"] = e.entry;
  if (!e.full_url.empty()) out["fullUrl"] = e.full_url;
  if (!e.resource_type.empty()) out["resourceType"] = e.resource_type;
  if (!e.id.empty()) out["id"] = e.id;
  if (e.failure_id != 0) out["failure_id"] = e.failure_id;
  return out;
}

// The push answer's name of a record's status.
const char* StatusName(v1::RecordStatus s) {
  switch (s) {
    case v1::RECORD_STATUS_CREATED: return "created";
    case v1::RECORD_STATUS_UPDATED: return "updated";
    case v1::RECORD_STATUS_UNCHANGED: return "unchanged";
    case v1::RECORD_STATUS_REJECTED: return "rejected";
    case v1::RECORD_STATUS_FAILED: return "failed";
    case v1::RECORD_STATUS_SKIPPED: return "skipped";
    case v1::RECORD_STATUS_STALE: return "stale";
    default: return "unfinished";
  }
}

const char* StageName(v1::FailureStage s) {
  switch (s) {
    case v1::FAILURE_STAGE_FETCH: return "parse";
    case v1::FAILURE_STAGE_VALIDATE: return "validate";
    case v1::FAILURE_STAGE_MAP: return "map";
    case v1::FAILURE_STAGE_RECONCILE: return "reconcile";
    case v1::FAILURE_STAGE_WRITE: return "write";
    default: return "unknown";
  }
}

// One orchestration per openIMIS write the push took (the writer's call).
json Orchestration(const v1::RecordResult& r) {
  const bool create = r.write().action() == v1::WRITE_ACTION_CREATE;
  const int status = r.write_result().http_status() != 0 ? r.write_result().http_status()
                     : r.status() == v1::RECORD_STATUS_FAILED ? 503
                                                              : 200;
  return {{"name", absl::StrCat("openIMIS ", create ? "create" : "update", " HF ",
                                r.write().facility().code(), " (", r.location_id(), ")")},
          {"request",
           {{"method", "POST"},
            {"path", "/mflsync.v1.WriterService/WriteFacilities"},
            {"querystring", ""},
            {"headers", {{"content-type", "application/json"}}},
            {"body", ProtoJson(r.write()).dump()},
            {"timestamp", FormatFhirInstant(FromTimestamp(r.write_started_at()))}}},
          {"response",
           {{"status", status},
            {"headers", {{"content-type", "application/json"}}},
            {"body", ProtoJson(r.write_result()).dump()},
            {"timestamp", FormatFhirInstant(FromTimestamp(r.write_finished_at()))}}}};
}

// The rejected-list entry of a record the flow refused or could not write.
RejectedEntry Refused(const PushedRecord& pushed, const v1::RecordResult& r) {
  RejectedEntry e;
  e.entry = pushed.entry;
  e.resource_type = "Location";
  e.id = r.location_id();
  e.stage = StageName(r.stage());
  e.failure_id = r.failure_id();
  e.reasons.assign(r.rejections().begin(), r.rejections().end());
  if (e.reasons.empty()) {
    const int http = r.write_result().http_status();
    AddRejection(&e.reasons, "", absl::StrCat("openimis.write.", StatusName(r.status())),
                 http != 0 ? absl::StrCat("HTTP ", http) : "", r.reason());
  }
  return e;
}

json Failure(const std::string& urn, int http_status, const std::string& message,
             json body_extra = json::object()) {
  json body = {{"error", message}};
  for (auto& [k, v] : body_extra.items()) body[k] = v;
  json answer = MediatorAnswer(urn, kStatusFailed, http_status, body);
  answer["error"] = {{"message", message}};
  return answer;
}

}  // namespace

json MediatorAnswer(const std::string& urn, const std::string& status, int http_status,
                    const json& body) {
  return {{"x-mediator-urn", urn},
          {"status", status},
          {"response",
           {{"status", http_status},
            {"headers", {{"content-type", "application/json"}}},
            {"body", body.dump(-1, ' ', false, json::error_handler_t::replace)},
            {"timestamp", Now()}}},
          {"orchestrations", json::array()},
          {"properties", json::object()}};
}

PushProcessor::PushProcessor(std::string urn, SuitePeers* peers)
    : urn_(std::move(urn)), peers_(peers) {}

// What a push answers, gathered record by record.
struct PushTally {
  std::map<std::string, int64_t> counts = {{"created", 0}, {"updated", 0}, {"unchanged", 0},
                                           {"stale", 0},   {"skipped", 0}, {"rejected", 0},
                                           {"failed", 0}};
  json results = json::array();
  json orchestrations = json::array();
  std::vector<RejectedEntry> rejected;
  std::string run_id;
};

namespace {

json RejectedListJson(const std::vector<RejectedEntry>& rejected) {
  json out = json::array();
  for (const RejectedEntry& e : rejected) out.push_back(RejectedJson(e));
  return out;
}

// Adds what became of one pushed record.
void Tally(const PushedRecord& pushed, const v1::RecordResult& r, PushTally& t) {
  if (r.has_write()) t.orchestrations.push_back(Orchestration(r));
  if (r.status() == v1::RECORD_STATUS_REJECTED) {
    t.rejected.push_back(Refused(pushed, r));
    return;  // counted with the parse refusals
  }
  const char* status = StatusName(r.status());
  // An unfinished record (the run failed and it could not even be parked)
  // counts as failed: nothing says it was written.
  ++t.counts[r.status() == v1::RECORD_STATUS_UNSPECIFIED ? "failed" : status];
  json result = {{"entry", pushed.entry}, {"location_id", r.location_id()}, {"outcome", status}};
  if (!r.facility().code().empty()) result["hf_code"] = r.facility().code();
  const std::string uuid =
      r.write_result().uuid().empty() ? r.facility().uuid() : r.write_result().uuid();
  if (!uuid.empty()) result["uuid"] = uuid;
  if (!r.reason().empty()) result["message"] = r.reason();
  if (r.failure_id() != 0) result["failure_id"] = r.failure_id();
  t.results.push_back(std::move(result));
}

// openHIM's status and the HTTP status of a push with this tally.
std::pair<std::string, int> Verdict(const PushTally& t) {
  const int64_t bad = t.counts.at("rejected") + t.counts.at("failed");
  const int64_t good = t.counts.at("created") + t.counts.at("updated") +
                       t.counts.at("unchanged") + t.counts.at("stale") +
                       t.counts.at("skipped");
  if (bad == 0) return {kStatusSuccessful, 200};
  if (good > 0) return {kStatusCompletedWithErrors, 200};
  return {kStatusFailed, t.counts.at("failed") > 0 ? 503 : 422};
}

}  // namespace

json PushProcessor::Process(absl::string_view body, const Settings& settings,
                            const std::string& transaction_id) {
  if (!settings.push_enabled)
    return Failure(urn_, 503,
                   "push mode is disabled (setting push_enabled in the openHIM console)");
  absl::StatusOr<PushedPayload> payload = ParsePushedPayload(body, settings.push_max_entries);
  if (!payload.ok()) return Failure(urn_, 400, std::string(payload.status().message()));
  PushTally tally;
  tally.rejected = payload->rejected;
  if (!payload->records.empty()) {
    v1::PushRecordsRequest request;
    request.set_source_id(settings.sync_source);
    request.set_push_id(transaction_id);
    for (const PushedRecord& r : payload->records) *request.add_records() = r.record;
    absl::StatusOr<v1::PushRecordsResponse> pushed = peers_->PushRecords(request);
    if (pushed.ok() && pushed->results_size() != request.records_size()) {
      pushed = absl::InternalError(absl::StrCat("the scheduler answered ",
                                                pushed->results_size(), " results for ",
                                                request.records_size(), " records"));
    }
    if (!pushed.ok()) return PeerFailure(pushed.status(), tally, transaction_id);
    tally.run_id = pushed->run().run_id();
    for (int i = 0; i < pushed->results_size(); ++i)
      Tally(payload->records[static_cast<size_t>(i)], pushed->results(i), tally);
  }
  tally.counts["rejected"] = static_cast<int64_t>(tally.rejected.size());
  return Answer(*payload, tally, transaction_id);
}

json PushProcessor::PeerFailure(const absl::Status& s, const PushTally& tally,
                                const std::string& transaction_id) const {
  LogWarning("push failed: the scheduler did not take it",
             {{"error", std::string(s.message())}, {"transaction", transaction_id}});
  json answer = Failure(
      urn_, 503,
      absl::StrCat("the scheduler did not take the push: ", s.message(),
                   ". Records it had already written stay written, and pushing the same "
                   "payload again is safe: a version openIMIS holds is never written twice"),
      {{"rejected", RejectedListJson(tally.rejected)}});
  return answer;
}

json PushProcessor::Answer(const PushedPayload& payload, const PushTally& tally,
                           const std::string& transaction_id) const {
  const auto [status, http_status] = Verdict(tally);
  json body_json = {{"bundle", payload.kind},
                    {"entries", payload.entries},
                    {"records", payload.records.size()},
                    {"counts", tally.counts},
                    {"results", tally.results},
                    {"rejected", RejectedListJson(tally.rejected)}};
  if (!tally.run_id.empty()) body_json["run"] = tally.run_id;
  json answer = MediatorAnswer(urn_, status, http_status, body_json);
  answer["orchestrations"] = tally.orchestrations;
  answer["properties"] = tally.counts;
  if (!tally.run_id.empty()) answer["properties"]["run"] = tally.run_id;
  if (status == kStatusFailed)
    answer["error"] = {{"message", absl::StrCat("no entry of the ", payload.kind,
                                                " could be written; see the rejected list")}};
  LogInfo("push processed", {{"transaction", transaction_id},
                             {"run", tally.run_id},
                             {"status", status},
                             {"counts", tally.counts}});
  return answer;
}

}  // namespace mflsync::mediator
