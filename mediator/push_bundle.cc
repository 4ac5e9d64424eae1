#include "mediator/push_bundle.h"

#include <map>
#include <set>
#include <utility>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/fhir.h"
#include "common/json_access.h"
#include "common/physical_type.h"
#include "common/rejection.h"
#include "common/utf8.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Resources of the payload by every name a reference may use.
class ResourceIndex {
 public:
  void Add(const std::string& full_url, const json& resource) {
    std::string type = StringAt(resource, "resourceType");
    std::string id = StringAt(resource, "id");
    if (!full_url.empty()) by_name_.emplace(full_url, &resource);
    if (!type.empty() && !id.empty()) by_name_.emplace(absl::StrCat(type, "/", id), &resource);
  }
  // The resource `reference` names within the payload or `container`'s
  // contained list; null when absent.
  const json* Find(const std::string& reference, const json& container,
                   const std::string& type) const {
    if (absl::StartsWith(reference, "#")) {
      auto contained = container.find("contained");
      if (contained == container.end() || !contained->is_array()) return nullptr;
      for (const json& c : *contained) {
        if (StringAt(c, "id") == reference.substr(1) && StringAt(c, "resourceType") == type) {
          return &c;
        }
      }
      return nullptr;
    }
    auto it = by_name_.find(reference);
    if (it != by_name_.end() && StringAt(*it->second, "resourceType") == type) return it->second;
    absl::StatusOr<FhirReference> parsed = ParseFhirReference(reference);
    if (!parsed.ok() || parsed->type != type) return nullptr;
    it = by_name_.find(absl::StrCat(parsed->type, "/", parsed->id));
    return it == by_name_.end() ? nullptr : it->second;
  }

 private:
  std::multimap<std::string, const json*> by_name_;
};

void Join(const json& location, const ResourceIndex& index, v1::SourceRecord* record) {
  auto ref_of = [](const json& r) { return StringAt(r, "reference"); };
  if (location.contains("managingOrganization")) {
    std::string ref = ref_of(location["managingOrganization"]);
    if (!ref.empty()) {
      const json* org = index.Find(ref, location, "Organization");
      if (org != nullptr) record->set_organization_json(Dump(*org));
      else record->add_unresolved_references(SafeUtf8(ref, 200));
    }
  }
  auto endpoints = location.find("endpoint");
  if (endpoints != location.end() && endpoints->is_array()) {
    for (const json& e : *endpoints) {
      std::string ref = ref_of(e);
      if (ref.empty()) continue;
      const json* endpoint = index.Find(ref, location, "Endpoint");
      if (endpoint != nullptr) record->add_endpoint_json(Dump(*endpoint));
      else record->add_unresolved_references(SafeUtf8(ref, 200));
    }
  }
}

// The refusal of a pushed Location that another entry of the payload
// supersedes.
RejectedEntry Superseded(const PushedRecord& dropped, const PushedRecord& kept) {
  RejectedEntry rejected;
  rejected.entry = dropped.entry;
  rejected.stage = "parse";
  rejected.resource_type = "Location";
  const std::string& id = dropped.record.location_id();
  rejected.id = SafeUtf8(id, 64);
  rejected.reasons.push_back(MakeRejection(
      absl::StrCat("Bundle.entry[", dropped.entry, "].resource.meta.lastUpdated"),
      "push.entry.duplicate", id,
      absl::StrCat("Location/", id, " appears more than once in the Bundle; entry ", kept.entry,
                   " is processed because it is the newest version (latest meta.lastUpdated, "
                   "the first on a tie), this one is not.")));
  return rejected;
}

// Newest version wins within one payload: of the entries for one Location,
// only the latest meta.lastUpdated (the first on a tie) goes on; each other
// is refused naming the one kept. Locations without an id are left to the
// mapper's rules.
void KeepNewest(PushedRecord candidate, std::map<std::string, size_t>& seen,
                PushedPayload& out) {
  const std::string id = candidate.record.location_id();
  auto it = id.empty() ? seen.end() : seen.find(id);
  if (it == seen.end()) {
    if (!id.empty()) seen.emplace(id, out.records.size());
    out.records.push_back(std::move(candidate));
    return;
  }
  PushedRecord& held = out.records[it->second];
  if (held.record.last_updated() < candidate.record.last_updated()) {
    out.rejected.push_back(Superseded(held, candidate));
    held = std::move(candidate);
  } else {
    out.rejected.push_back(Superseded(candidate, held));
  }
}

void SetMeta(const json& location, v1::SourceRecord* record) {
  auto meta = location.find("meta");
  if (meta == location.end() || !meta->is_object()) return;
  record->set_version_id(StringAt(*meta, "versionId"));
  absl::StatusOr<absl::Time> t = ParseFhirInstant(StringAt(*meta, "lastUpdated"));
  if (t.ok()) {
    int64_t nanos = absl::ToUnixNanos(*t);
    record->mutable_last_updated()->set_seconds(nanos / 1000000000);
    record->mutable_last_updated()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  }
}

// The record of the pushed Location `location` (entry `entry` of the
// payload), joined to the resources of `index` it references.
PushedRecord LocationRecord(const json& location, int entry, const ResourceIndex& index) {
  PushedRecord r;
  r.entry = entry;
  r.record.set_source_id(kPushSourceId);
  r.record.set_location_id(StringAt(location, "id"));
  r.record.set_location_json(Dump(location));
  *r.record.mutable_physical_type() = PhysicalTypeOf(location);
  SetMeta(location, &r.record);
  Join(location, index, &r.record);
  return r;
}

// A DELETE entry (number `entry`, at FHIR path `base`) of a transaction or
// batch: a deleted record when `url` names a Location, else `rejected`
// with why.
void ParseDelete(const std::string& url, int entry, const std::string& base,
                 RejectedEntry rejected, PushedPayload& out) {
  absl::StatusOr<FhirReference> ref = ParseFhirReference(url);
  if (ref.ok() && ref->type == "Location" && !ref->id.empty()) {
    PushedRecord r;
    r.entry = entry;
    r.record.set_source_id(kPushSourceId);
    r.record.set_location_id(ref->id);
    r.record.set_deleted(true);
    out.records.push_back(std::move(r));
    return;
  }
  rejected.reasons.push_back(
      MakeRejection(base + ".request.url", "push.entry.delete_not_location", url,
             "A DELETE entry must name a Location (\"Location/<id>\"); nothing else "
             "is synchronised."));
  out.rejected.push_back(std::move(rejected));
}

// Pass 2 for entry `i`: a record, a refusal, or nothing (an Organization or
// Endpoint, joined to the Locations that reference it).
void ParseEntry(const json& e, size_t i, const std::string& bundle_type,
                const ResourceIndex& index, std::map<std::string, size_t>& seen_locations,
                PushedPayload& out) {
  const std::string base = absl::StrCat("Bundle.entry[", i, "]");
  RejectedEntry rejected;
  rejected.entry = static_cast<int>(i);
  rejected.stage = "parse";
  if (!e.is_object()) {
    rejected.reasons.push_back(MakeRejection(base, "push.entry.not_object", "",
                                      "A Bundle entry must be a JSON object."));
    out.rejected.push_back(std::move(rejected));
    return;
  }
  rejected.full_url = SafeUtf8(StringAt(e, "fullUrl"), 200);
  auto request = e.find("request");
  std::string method = request != e.end() ? StringAt(*request, "method") : "";
  if (method == "DELETE" && bundle_type != "collection") {
    ParseDelete(StringAt(*request, "url"), static_cast<int>(i), base, std::move(rejected), out);
    return;
  }
  auto resource = e.find("resource");
  if (resource == e.end() || !resource->is_object()) {
    rejected.reasons.push_back(MakeRejection(base + ".resource", "push.entry.no_resource", "",
                                      "The entry carries no resource object."));
    out.rejected.push_back(std::move(rejected));
    return;
  }
  std::string rtype = StringAt(*resource, "resourceType");
  rejected.resource_type = SafeUtf8(rtype, 64);
  rejected.id = SafeUtf8(StringAt(*resource, "id"), 64);
  if (rtype == "Organization" || rtype == "Endpoint") return;  // joined to Locations
  if (rtype != "Location") {
    rejected.reasons.push_back(MakeRejection(
        base + ".resource.resourceType", "push.entry.resource_type", rtype,
        absl::StrCat("A ", rtype.empty() ? "resource without resourceType" : rtype,
                     " is not synchronised; push accepts Location, Organization and "
                     "Endpoint entries.")));
    out.rejected.push_back(std::move(rejected));
    return;
  }
  KeepNewest(LocationRecord(*resource, static_cast<int>(i), index), seen_locations, out);
}

// A pushed Bundle: checks its type and size, then reads its entries in two
// passes (index every resource, then records and refusals).
absl::StatusOr<PushedPayload> ParseBundle(const json& root, int64_t max_entries) {
  PushedPayload out;
  std::string bundle_type = StringAt(root, "type");
  if (bundle_type != "transaction" && bundle_type != "batch" && bundle_type != "collection")
    return absl::InvalidArgumentError(absl::StrCat(
        "Bundle.type is '", SafeUtf8(bundle_type, 64),
        "'; push accepts a transaction, batch or collection Bundle"));
  out.kind = bundle_type;
  auto entries = root.find("entry");
  if (entries == root.end()) return out;
  if (!entries->is_array())
    return absl::InvalidArgumentError("Bundle.entry must be an array");
  out.entries = static_cast<int>(entries->size());
  if (static_cast<int64_t>(entries->size()) > max_entries)
    return absl::InvalidArgumentError(absl::StrCat(
        "the Bundle has ", entries->size(), " entries; push accepts at most ", max_entries,
        " (setting push_max_entries): split it"));
  // Pass 1: index every resource.
  ResourceIndex index;
  for (const json& e : *entries) {
    if (!e.is_object()) continue;
    auto resource = e.find("resource");
    if (resource != e.end() && resource->is_object()) index.Add(StringAt(e, "fullUrl"), *resource);
  }
  // Pass 2: records and refusals.
  std::map<std::string, size_t> seen_locations;  // Location id -> index in out.records
  for (size_t i = 0; i < entries->size(); ++i) {
    ParseEntry((*entries)[i], i, bundle_type, index, seen_locations, out);
  }
  return out;
}

}  // namespace

absl::StatusOr<PushedPayload> ParsePushedPayload(absl::string_view body, int64_t max_entries) {
  absl::StatusOr<json> parsed = ParseJson(body);
  if (!parsed.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("the pushed body cannot be read: ", parsed.status().message()));
  const json& root = *parsed;
  if (!root.is_object())
    return absl::InvalidArgumentError(absl::StrCat(
        "the pushed body must be a FHIR Bundle or Location object, got a JSON ",
        root.type_name()));
  std::string type = StringAt(root, "resourceType");
  if (type == "Location") {
    PushedPayload out;
    out.kind = "Location";
    out.entries = 1;
    out.records.push_back(LocationRecord(root, 0, ResourceIndex()));
    return out;
  }
  if (type != "Bundle")
    return absl::InvalidArgumentError(absl::StrCat(
        "the pushed resourceType is '", SafeUtf8(type, 64),
        "'; push accepts a Bundle (transaction, batch or collection) or a single Location"));
  return ParseBundle(root, max_entries);
}

}  // namespace mflsync::mediator
