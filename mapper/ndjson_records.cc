#include "mapper/ndjson_records.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/fhir.h"

namespace mflsync::mapper {
namespace {

using Json = nlohmann::json;

bool IsSite(const Json& loc) {
  auto pt = loc.find("physicalType");
  if (pt == loc.end() || !pt->is_object() || !pt->contains("coding")) return false;
  for (const Json& c : (*pt)["coding"])
    if (c.is_object() && c.contains("code") && c["code"] == "si") return true;
  return false;
}

std::string RefId(const Json& ref, absl::string_view type) {
  if (!ref.is_object() || !ref.contains("reference") || !ref["reference"].is_string()) return "";
  absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref["reference"].get<std::string>());
  if (!parsed.ok() || parsed->type != type) return "";
  return parsed->id;
}

}  // namespace

absl::StatusOr<std::vector<v1::SourceRecord>> LoadNdjsonRecords(const std::string& path,
                                                                const std::string& source_id) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  absl::flat_hash_map<std::string, std::string> orgs, endpoints;
  std::vector<std::pair<Json, std::string>> sites;  // parsed + raw text
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    Json res = Json::parse(line, nullptr, false);
    if (res.is_discarded() || !res.is_object())
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": not a JSON object"));
    std::string type = res.contains("resourceType") && res["resourceType"].is_string()
                           ? res["resourceType"].get<std::string>()
                           : "";
    std::string id = res.contains("id") && res["id"].is_string() ? res["id"].get<std::string>()
                                                                 : "";
    if (type == "Organization") orgs[id] = line;
    else if (type == "Endpoint") endpoints[id] = line;
    else if (type == "Location" && IsSite(res)) sites.emplace_back(std::move(res), line);
  }
  std::vector<v1::SourceRecord> records;
  records.reserve(sites.size());
  for (auto& [loc, text] : sites) {
    v1::SourceRecord& r = records.emplace_back();
    r.set_source_id(source_id);
    r.set_location_id(loc.contains("id") && loc["id"].is_string() ? loc["id"].get<std::string>()
                                                                    : "");
    r.set_location_json(text);
    if (loc.contains("meta") && loc["meta"].is_object()) {
      const Json& meta = loc["meta"];
      if (meta.contains("versionId") && meta["versionId"].is_string())
        r.set_version_id(meta["versionId"].get<std::string>());
      if (meta.contains("lastUpdated") && meta["lastUpdated"].is_string()) {
        absl::StatusOr<absl::Time> t = ParseFhirInstant(meta["lastUpdated"].get<std::string>());
        if (t.ok()) {
          r.mutable_last_updated()->set_seconds(absl::ToUnixSeconds(*t));
          r.mutable_last_updated()->set_nanos(static_cast<int32_t>(
              absl::ToInt64Nanoseconds(*t - absl::FromUnixSeconds(absl::ToUnixSeconds(*t)))));
        }
      }
    }
    if (loc.contains("managingOrganization")) {
      std::string org_id = RefId(loc["managingOrganization"], "Organization");
      auto it = orgs.find(org_id);
      if (it != orgs.end()) r.set_organization_json(it->second);
      else if (const Json& m = loc["managingOrganization"];
               m.is_object() && m.contains("reference") && m["reference"].is_string())
        r.add_unresolved_references(m["reference"].get<std::string>());
    }
    if (loc.contains("endpoint") && loc["endpoint"].is_array()) {
      for (const Json& ref : loc["endpoint"]) {
        auto it = endpoints.find(RefId(ref, "Endpoint"));
        if (it != endpoints.end()) r.add_endpoint_json(it->second);
        else if (ref.is_object() && ref.contains("reference") && ref["reference"].is_string())
          r.add_unresolved_references(ref["reference"].get<std::string>());
      }
    }
  }
  return records;
}

}  // namespace mflsync::mapper
