#include "mediator/push_processor.h"

#include <map>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "common/log.h"
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
  return out;
}

const char* OutcomeName(v1::WriteOutcome o) {
  switch (o) {
    case v1::WRITE_OUTCOME_CREATED: return "created";
    case v1::WRITE_OUTCOME_UPDATED: return "updated";
    case v1::WRITE_OUTCOME_UNCHANGED: return "unchanged";
    case v1::WRITE_OUTCOME_REJECTED: return "rejected";
    case v1::WRITE_OUTCOME_FAILED: return "failed";
    default: return "unknown";
  }
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

json PushProcessor::Process(absl::string_view body, const Settings& settings,
                            const std::string& transaction_id) {
  if (!settings.push_enabled)
    return Failure(urn_, 503,
                   "push mode is disabled (setting push_enabled in the openHIM console)");
  absl::StatusOr<PushedPayload> payload = ParsePushedPayload(body, settings.push_max_entries);
  if (!payload.ok()) return Failure(urn_, 400, std::string(payload.status().message()));

  std::vector<RejectedEntry> rejected = payload->rejected;
  json results = json::array();
  json orchestrations = json::array();
  std::map<std::string, int64_t> counts = {{"created", 0},  {"updated", 0}, {"unchanged", 0},
                                           {"rejected", 0}, {"failed", 0}};
  auto reject = [&](const PushedRecord& r, const std::string& stage,
                    std::vector<v1::Rejection> reasons) {
    RejectedEntry e;
    e.entry = r.entry;
    e.resource_type = "Location";
    e.id = r.record.location_id();
    e.stage = stage;
    e.reasons = std::move(reasons);
    rejected.push_back(std::move(e));
  };
  auto peer_failure = [&](const absl::Status& s, const char* stage) {
    LogWarning("push failed: a peer is unreachable",
               {{"stage", stage}, {"error", std::string(s.message())},
                {"transaction", transaction_id}});
    json extra = {{"stage", stage}};
    json rej = json::array();
    for (const RejectedEntry& e : rejected) rej.push_back(RejectedJson(e));
    extra["rejected"] = rej;
    json answer = Failure(urn_, 503,
                          absl::StrCat("nothing was written: the ", stage, " step failed: ",
                                       s.message()),
                          extra);
    answer["orchestrations"] = orchestrations;
    return answer;
  };

  // Map.
  std::vector<const PushedRecord*> mapped_records;
  std::vector<v1::HealthFacility> mapped;
  if (!payload->records.empty()) {
    v1::MapFacilitiesRequest map_request;
    for (const PushedRecord& r : payload->records) *map_request.add_records() = r.record;
    absl::StatusOr<v1::MapFacilitiesResponse> map = peers_->Map(map_request);
    if (!map.ok()) return peer_failure(map.status(), "map");
    if (map->results_size() != map_request.records_size())
      return peer_failure(absl::InternalError("the mapper answered a different number of "
                                              "results than records sent"),
                          "map");
    for (int i = 0; i < map->results_size(); ++i) {
      const v1::MappedRecord& m = map->results(i);
      const PushedRecord& r = payload->records[i];
      if (m.rejections_size() > 0) {
        reject(r, "map", {m.rejections().begin(), m.rejections().end()});
        continue;
      }
      mapped_records.push_back(&r);
      mapped.push_back(m.facility());
    }
  }
  // Reconcile against openIMIS.
  std::vector<v1::WriteItem> items;
  std::vector<const PushedRecord*> item_records;
  if (!mapped.empty()) {
    v1::LookupFacilitiesRequest lookup_request;
    for (const v1::HealthFacility& f : mapped) {
      if (!f.code().empty()) lookup_request.add_codes(f.code());
      if (!f.name().empty()) {
        v1::NameInDistrict* n = lookup_request.add_names();
        n->set_name(f.name());
        n->set_district_code(f.district_code());
      }
    }
    absl::StatusOr<v1::LookupFacilitiesResponse> lookup = peers_->Lookup(lookup_request);
    if (!lookup.ok()) return peer_failure(lookup.status(), "lookup");
    absl::StatusOr<v1::ListDistrictsResponse> districts = peers_->ListDistricts();
    if (!districts.ok()) return peer_failure(districts.status(), "lookup");
    v1::ReconcileFacilitiesRequest reconcile_request;
    for (const v1::HealthFacility& f : mapped) *reconcile_request.add_facilities() = f;
    *reconcile_request.mutable_existing() = lookup->facilities();
    *reconcile_request.mutable_districts() = districts->districts();
    absl::StatusOr<v1::ReconcileFacilitiesResponse> reconciled =
        peers_->Reconcile(reconcile_request);
    if (!reconciled.ok()) return peer_failure(reconciled.status(), "reconcile");
    if (reconciled->results_size() != static_cast<int>(mapped.size()))
      return peer_failure(absl::InternalError("the mapper answered a different number of "
                                              "reconciliations than facilities sent"),
                          "reconcile");
    for (size_t i = 0; i < mapped.size(); ++i) {
      const v1::Reconciliation& rec = reconciled->results(static_cast<int>(i));
      const PushedRecord& r = *mapped_records[i];
      switch (rec.action()) {
        case v1::WRITE_ACTION_CREATE:
        case v1::WRITE_ACTION_UPDATE: {
          v1::WriteItem item;
          item.set_record_key(r.record.location_id());
          item.set_action(rec.action());
          *item.mutable_facility() = rec.facility();
          items.push_back(std::move(item));
          item_records.push_back(&r);
          break;
        }
        case v1::WRITE_ACTION_NOOP:
          counts["unchanged"]++;
          results.push_back({{"entry", r.entry},
                             {"location_id", r.record.location_id()},
                             {"outcome", "unchanged"},
                             {"hf_code", rec.facility().code()},
                             {"uuid", rec.facility().uuid()}});
          break;
        default: {
          std::vector<v1::Rejection> reasons(rec.rejections().begin(), rec.rejections().end());
          if (reasons.empty()) {
            v1::Rejection x;
            x.set_rule("reconcile.rejected");
            x.set_message("The mapper refused to write this facility.");
            reasons.push_back(x);
          }
          reject(r, "reconcile", std::move(reasons));
        }
      }
    }
  }
  // Write.
  if (!items.empty()) {
    v1::WriteFacilitiesRequest write_request;
    write_request.set_run_id(absl::StrCat("push-", transaction_id.substr(0, 40)));
    for (const v1::WriteItem& item : items) *write_request.add_items() = item;
    std::string started = Now();
    absl::StatusOr<v1::WriteFacilitiesResponse> written = peers_->Write(write_request);
    if (!written.ok()) return peer_failure(written.status(), "write");
    std::string ended = Now();
    for (size_t i = 0; i < items.size() && i < static_cast<size_t>(written->results_size());
         ++i) {
      const v1::WriteResult& w = written->results(static_cast<int>(i));
      const PushedRecord& r = *item_records[i];
      const v1::WriteItem& item = items[i];
      bool create = item.action() == v1::WRITE_ACTION_CREATE;
      orchestrations.push_back(
          {{"name", absl::StrCat("openIMIS ", create ? "create" : "update", " HF ",
                                 item.facility().code(), " (", r.record.location_id(), ")")},
           {"request",
            {{"method", create ? "POST" : "PUT"},
             {"path", create ? "/Location" : absl::StrCat("/Location/", item.facility().uuid())},
             {"querystring", ""},
             {"headers", {{"content-type", "application/json"}}},
             {"body", ProtoJson(item).dump()},
             {"timestamp", started}}},
           {"response",
            {{"status", w.http_status() != 0 ? w.http_status()
                                              : (w.outcome() == v1::WRITE_OUTCOME_FAILED ? 503
                                                                                       : 200)},
             {"headers", {{"content-type", "application/json"}}},
             {"body", ProtoJson(w).dump()},
             {"timestamp", ended}}}});
      std::string outcome = OutcomeName(w.outcome());
      if (w.outcome() == v1::WRITE_OUTCOME_REJECTED || w.outcome() == v1::WRITE_OUTCOME_FAILED) {
        v1::Rejection x;
        x.set_rule(w.outcome() == v1::WRITE_OUTCOME_REJECTED ? "openimis.write.rejected"
                                                             : "openimis.write.failed");
        x.set_value(absl::StrCat("HTTP ", w.http_status()));
        x.set_message(w.message().substr(0, 500));
        if (w.outcome() == v1::WRITE_OUTCOME_FAILED) {
          counts["failed"]++;
          results.push_back({{"entry", r.entry},
                             {"location_id", r.record.location_id()},
                             {"outcome", "failed"},
                             {"message", x.message()}});
        } else {
          reject(r, "write", {x});
        }
        continue;
      }
      counts[outcome]++;
      results.push_back({{"entry", r.entry},
                         {"location_id", r.record.location_id()},
                         {"outcome", outcome},
                         {"hf_code", item.facility().code()},
                         {"uuid", w.uuid()}});
    }
  }
  counts["rejected"] = static_cast<int64_t>(rejected.size());
  json rejected_json = json::array();
  for (const RejectedEntry& e : rejected) rejected_json.push_back(RejectedJson(e));
  int64_t good = counts["created"] + counts["updated"] + counts["unchanged"];
  std::string status;
  int http_status = 200;
  if (good == 0 && (counts["rejected"] > 0 || counts["failed"] > 0)) {
    status = kStatusFailed;
    http_status = counts["failed"] > 0 ? 503 : 422;
  } else if (counts["rejected"] > 0 || counts["failed"] > 0) {
    status = kStatusCompletedWithErrors;
  } else {
    status = kStatusSuccessful;
  }
  json body_json = {{"bundle", payload->kind},
                    {"entries", payload->entries},
                    {"records", payload->records.size()},
                    {"counts", counts},
                    {"results", results},
                    {"rejected", rejected_json}};
  json answer = MediatorAnswer(urn_, status, http_status, body_json);
  answer["orchestrations"] = orchestrations;
  answer["properties"] = {{"created", counts["created"]},   {"updated", counts["updated"]},
                          {"unchanged", counts["unchanged"]}, {"rejected", counts["rejected"]},
                          {"failed", counts["failed"]}};
  if (status == kStatusFailed)
    answer["error"] = {{"message", absl::StrCat("no entry of the ", payload->kind,
                                                " could be written; see the rejected list")}};
  LogInfo("push processed", {{"transaction", transaction_id},
                             {"status", status},
                             {"counts", counts}});
  return answer;
}

}  // namespace mflsync::mediator
