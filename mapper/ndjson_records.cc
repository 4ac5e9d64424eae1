#include "mapper/ndjson_records.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/fhir.h"
#include "common/json_access.h"
#include "common/physical_type.h"
#include "common/proto_time.h"

namespace mflsync::mapper {
namespace {

using Json = nlohmann::json;

// A Location with a physicalType that says it is a site (si).
bool IsSite(const v1::PhysicalType& physical_type) {
  return !physical_type.codes().empty() && NotASite(physical_type).empty();
}

std::string RefId(const Json& ref, absl::string_view type) {
  if (!ref.is_object() || !ref.contains("reference") || !ref["reference"].is_string()) return "";
  absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref["reference"].get<std::string>());
  if (!parsed.ok() || parsed->type != type) return "";
  return parsed->id;
}

// A site Location of the export: parsed, its text, and its physicalType
// (read once, to pick it and for its record).
struct Site {
  Json location;
  std::string text;
  v1::PhysicalType physical_type;
};

// An export's resources: Organizations and Endpoints by id (their text),
// and the site Locations in file order.
struct Resources {
  absl::flat_hash_map<std::string, std::string> orgs, endpoints;
  std::vector<Site> sites;
};

absl::StatusOr<Resources> ReadResources(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  Resources out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    Json res = Json::parse(line, nullptr, false);
    if (res.is_discarded() || !res.is_object())
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": not a JSON object"));
    const std::string type = StringAt(res, "resourceType");
    if (type == "Organization") {
      out.orgs[StringAt(res, "id")] = line;
    } else if (type == "Endpoint") {
      out.endpoints[StringAt(res, "id")] = line;
    } else if (type == "Location") {
      v1::PhysicalType physical_type = PhysicalTypeOf(res);
      if (IsSite(physical_type)) out.sites.push_back({std::move(res), line, physical_type});
    }
  }
  return out;
}

// The reference text of `ref` when it is an object with one.
std::string ReferenceText(const Json& ref) {
  return ref.is_object() ? StringAt(ref, "reference") : "";
}

// One Location joined to its Organization and Endpoints from the export;
// references the export lacks are listed as unresolved.
v1::SourceRecord ToRecord(const Site& site, const Resources& res, const std::string& source_id) {
  const Json& loc = site.location;
  v1::SourceRecord r;
  r.set_source_id(source_id);
  r.set_location_id(StringAt(loc, "id"));
  r.set_location_json(site.text);
  *r.mutable_physical_type() = site.physical_type;
  if (auto meta = loc.find("meta"); meta != loc.end() && meta->is_object()) {
    r.set_version_id(StringAt(*meta, "versionId"));
    absl::StatusOr<absl::Time> t = ParseFhirInstant(StringAt(*meta, "lastUpdated"));
    if (t.ok()) *r.mutable_last_updated() = ToTimestamp(*t);
  }
  if (auto managing = loc.find("managingOrganization"); managing != loc.end()) {
    auto it = res.orgs.find(RefId(*managing, "Organization"));
    if (it != res.orgs.end()) {
      r.set_organization_json(it->second);
    } else if (std::string ref = ReferenceText(*managing); !ref.empty()) {
      r.add_unresolved_references(ref);
    }
  }
  if (auto eps = loc.find("endpoint"); eps != loc.end() && eps->is_array()) {
    for (const Json& ref : *eps) {
      auto it = res.endpoints.find(RefId(ref, "Endpoint"));
      if (it != res.endpoints.end()) {
        r.add_endpoint_json(it->second);
      } else if (std::string text_ref = ReferenceText(ref); !text_ref.empty()) {
        r.add_unresolved_references(text_ref);
      }
    }
  }
  return r;
}

}  // namespace

absl::StatusOr<std::vector<v1::SourceRecord>> LoadNdjsonRecords(const std::string& path,
                                                                const std::string& source_id) {
  absl::StatusOr<Resources> res = ReadResources(path);
  if (!res.ok()) return res.status();
  std::vector<v1::SourceRecord> records;
  records.reserve(res->sites.size());
  for (const Site& site : res->sites) records.push_back(ToRecord(site, *res, source_id));
  return records;
}

}  // namespace mflsync::mapper
