#include "fetcher/bundle_page.h"

#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fhir.h"

namespace mflsync::fetcher {
namespace {

using nlohmann::json;

std::string Where(const PageContext& ctx) {
  return absl::StrCat("source '", ctx.source_id, "', page ", ctx.page, " (", ctx.url, ")");
}

const json* Member(const json& node, const char* name) {
  if (!node.is_object()) return nullptr;
  auto it = node.find(name);
  return it == node.end() ? nullptr : &*it;
}

std::string StringMember(const json& node, const char* name) {
  const json* m = Member(node, name);
  return m != nullptr && m->is_string() ? m->get<std::string>() : std::string();
}

// "W/\"3\"" → "3".
std::string VersionFromEtag(absl::string_view etag) {
  absl::ConsumePrefix(&etag, "W/");
  absl::ConsumePrefix(&etag, "\"");
  absl::ConsumeSuffix(&etag, "\"");
  return std::string(etag);
}

// Adds the referenced resource to the record, or flags the reference.
void Resolve(const json& ref_node, const std::map<std::string, const json*>& included,
             const char* expected_type, bool expect,
             v1::SourceRecord* record, bool organization) {
  const std::string ref = StringMember(ref_node, "reference");
  if (ref.empty() || absl::StartsWith(ref, "#")) return;  // logical or contained
  absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref);
  if (parsed.ok() && parsed->type == expected_type) {
    auto it = included.find(absl::StrCat(parsed->type, "/", parsed->id));
    if (it != included.end()) {
      if (organization) {
        record->set_organization_json(it->second->dump());
      } else {
        record->add_endpoint_json(it->second->dump());
      }
      return;
    }
  }
  if (expect || !parsed.ok()) record->add_unresolved_references(ref.substr(0, 300));
}

}  // namespace

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t s = us / 1000000;
  int64_t rem = us % 1000000;
  if (rem < 0) {
    rem += 1000000;
    --s;
  }
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Time RecordTime(const v1::SourceRecord& record) {
  return FromTimestamp(record.last_updated());
}

absl::StatusOr<BundlePage> ParseBundlePage(absl::string_view body, const PageContext& ctx) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(ctx), ": the body is not JSON (", body.size(), " bytes, starting '",
        std::string(body.substr(0, 40)), "')"));
  }
  const std::string type = StringMember(doc, "resourceType");
  if (type != "Bundle") {
    std::string detail = type == "OperationOutcome"
                             ? absl::StrCat(": ", OperationOutcomeText(body))
                             : std::string();
    return absl::InvalidArgumentError(absl::StrCat(
        Where(ctx), ": expected a FHIR Bundle, got ",
        type.empty() ? std::string("JSON without resourceType")
                     : absl::StrCat("resourceType '", type.substr(0, 60), "'"),
        detail));
  }
  BundlePage page;
  if (const json* total = Member(doc, "total"); total != nullptr && total->is_number_integer())
    page.total = total->get<int64_t>();
  if (const json* links = Member(doc, "link"); links != nullptr && links->is_array()) {
    for (const json& link : *links) {
      if (StringMember(link, "relation") == "next") {
        std::string url = StringMember(link, "url");
        if (!url.empty()) page.next_link = url;
      }
    }
  }
  const json* entries = Member(doc, "entry");
  if (entries == nullptr) return page;
  if (!entries->is_array())
    return absl::InvalidArgumentError(
        absl::StrCat(Where(ctx), ": Bundle.entry is not an array"));
  page.entries = entries->size();

  // First pass: classify; index included resources by Type/id.
  std::map<std::string, const json*> included;
  std::vector<size_t> matches;
  for (size_t i = 0; i < entries->size(); ++i) {
    const json& entry = (*entries)[i];
    if (!entry.is_object())
      return absl::InvalidArgumentError(
          absl::StrCat(Where(ctx), ": Bundle.entry[", i, "] is not an object"));
    const json* resource = Member(entry, "resource");
    const json* request = Member(entry, "request");
    const std::string method = request ? StringMember(*request, "method") : std::string();
    if (ctx.history && method == "DELETE") {
      matches.push_back(i);
      continue;
    }
    if (resource == nullptr || !resource->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(ctx), ": Bundle.entry[", i, "] has no resource (fullUrl '",
          StringMember(entry, "fullUrl").substr(0, 200), "')"));
    }
    const std::string rtype = StringMember(*resource, "resourceType");
    std::string mode;
    if (const json* search = Member(entry, "search")) mode = StringMember(*search, "mode");
    if (mode == "outcome") continue;
    const bool is_match = rtype == ctx.resource_type && (ctx.history || mode != "include");
    if (is_match) {
      matches.push_back(i);
    } else {
      const std::string id = StringMember(*resource, "id");
      if (!rtype.empty() && !id.empty()) included[absl::StrCat(rtype, "/", id)] = resource;
    }
  }

  // Second pass: build the records.
  page.records.reserve(matches.size());
  for (size_t i : matches) {
    const json& entry = (*entries)[i];
    v1::SourceRecord record;
    record.set_source_id(ctx.source_id);
    const json* resource = Member(entry, "resource");
    if (resource == nullptr) {  // history DELETE
      const json& request = entry["request"];
      const json* response = Member(entry, "response");
      std::string url = StringMember(request, "url");
      absl::StatusOr<FhirReference> ref = ParseFhirReference(url);
      if (!ref.ok() || ref->type != ctx.resource_type) {
        ref = ParseFhirReference(StringMember(entry, "fullUrl"));
      }
      if (!ref.ok() || ref->type != ctx.resource_type) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(ctx), ": Bundle.entry[", i, "] is a DELETE whose request.url '",
            url.substr(0, 200), "' names no ", ctx.resource_type));
      }
      std::string modified = response ? StringMember(*response, "lastModified") : "";
      absl::StatusOr<absl::Time> when = ParseFhirInstant(modified);
      if (!when.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(ctx), ": Bundle.entry[", i, "] (DELETE of ", ref->id,
            ") has no usable response.lastModified: ", when.status().message()));
      }
      record.set_location_id(ref->id);
      if (response) record.set_version_id(VersionFromEtag(StringMember(*response, "etag")));
      SetTimestamp(*when, record.mutable_last_updated());
      record.set_deleted(true);
      page.records.push_back(std::move(record));
      continue;
    }
    const std::string id = StringMember(*resource, "id");
    if (id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(ctx), ": Bundle.entry[", i, "] is a ", ctx.resource_type,
          " without an id (fullUrl '", StringMember(entry, "fullUrl").substr(0, 200), "')"));
    }
    const json* meta = Member(*resource, "meta");
    std::string last_updated = meta ? StringMember(*meta, "lastUpdated") : "";
    absl::StatusOr<absl::Time> when = ParseFhirInstant(last_updated);
    if (!when.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(ctx), ": Bundle.entry[", i, "] (", ctx.resource_type, "/", id.substr(0, 100),
          ") has no usable meta.lastUpdated: ", when.status().message()));
    }
    record.set_location_id(id);
    if (meta) record.set_version_id(StringMember(*meta, "versionId"));
    SetTimestamp(*when, record.mutable_last_updated());
    record.set_location_json(resource->dump());
    if (const json* org = Member(*resource, "managingOrganization"); org && org->is_object())
      Resolve(*org, included, "Organization", ctx.expect_organization, &record, true);
    if (const json* eps = Member(*resource, "endpoint"); eps && eps->is_array()) {
      for (const json& ep : *eps)
        if (ep.is_object())
          Resolve(ep, included, "Endpoint", ctx.expect_endpoint, &record, false);
    }
    page.records.push_back(std::move(record));
  }
  return page;
}

}  // namespace mflsync::fetcher
