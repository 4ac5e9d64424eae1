#include "scheduler/raw_record_json.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace mflsync::scheduler {
namespace {

nlohmann::json JsonOrText(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return text;
  return j;
}

// A page entry the fetcher could not use: the entry as the MFL sent it
// (bounded by the fetcher) and the fetcher's rejections.
std::string RawDefectJson(const v1::SourceRecord& record, nlohmann::json out) {
  out["entry"] = JsonOrText(record.location_json());
  nlohmann::json rejections = nlohmann::json::array();
  for (const v1::Rejection& r : record.fetch_rejections()) {
    rejections.push_back({{"fhir_path", r.fhir_path()},
                          {"rule", r.rule()},
                          {"value", r.value()},
                          {"message", r.message()}});
  }
  out["fetch_rejections"] = rejections;
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string RawRecordJson(const v1::SourceRecord& record) {
  std::string text = FullRawRecordJson(record);
  if (text.size() <= kMaxRawJson) return text;
  const size_t size = text.size();
  return absl::StrCat(SafeUtf8(text, kMaxRawJson), "\n...(cut: ", size,
                      " bytes in all; the whole record is kept for retries)");
}

std::string FullRawRecordJson(const v1::SourceRecord& record) {
  nlohmann::json out = nlohmann::json::object();
  out["source_id"] = record.source_id();
  out["location_id"] = record.location_id();
  out["version_id"] = record.version_id();
  out["deleted"] = record.deleted();
  if (record.fetch_rejections_size() > 0) return RawDefectJson(record, std::move(out));
  if (!record.location_json().empty()) out["location"] = JsonOrText(record.location_json());
  if (!record.organization_json().empty()) {
    out["organization"] = JsonOrText(record.organization_json());
  }
  nlohmann::json endpoints = nlohmann::json::array();
  for (const std::string& e : record.endpoint_json()) endpoints.push_back(JsonOrText(e));
  out["endpoints"] = endpoints;
  nlohmann::json unresolved = nlohmann::json::array();
  for (const std::string& u : record.unresolved_references()) unresolved.push_back(u);
  out["unresolved_references"] = unresolved;
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mflsync::scheduler
