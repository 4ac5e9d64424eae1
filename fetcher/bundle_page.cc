#include "fetcher/bundle_page.h"

#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fhir.h"
#include "common/json_bounds.h"
#include "common/physical_type.h"
#include "common/rejection.h"
#include "common/sha256.h"
#include "common/utf8.h"

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
  if (expect || !parsed.ok()) record->add_unresolved_references(SafeUtf8(ref, 300));
}

// At most this much of a defect entry's JSON is kept for the failure queue.
constexpr size_t kMaxRawEntry = 64 * 1024;
// At most this much of one OperationOutcome issue is kept as a warning.
constexpr size_t kMaxWarning = 500;

// Why an entry cannot become a record version: the path below
// Bundle.entry[i], the rule and the offending value.
struct EntryDefect {
  std::string path;
  std::string rule;
  std::string value;
  std::string message;
};

// The record of an entry the page cannot use (SourceRecord.fetch_rejections),
// without a time: the raw entry, bounded and ASCII-escaped so that a cut
// stays valid UTF-8; `id` when the entry has one, else a name derived from
// its content, so that the same entry keeps one failure-queue entry across
// runs.
v1::SourceRecord DefectRecord(const PageContext& ctx, size_t i, const json& entry,
                              std::string id, const EntryDefect& defect) {
  std::string raw = entry.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  if (id.empty()) id = absl::StrCat("unidentified-", Sha256Hex(raw).substr(0, 16));
  if (raw.size() > kMaxRawEntry) raw = absl::StrCat(raw.substr(0, kMaxRawEntry), "...(cut)");
  v1::SourceRecord record;
  record.set_source_id(ctx.source_id);
  record.set_location_id(SafeUtf8(id, 200));
  record.set_location_json(std::move(raw));
  *record.add_fetch_rejections() = MakeRejection(
      absl::StrCat("Bundle.entry[", i, "]", defect.path), defect.rule, defect.value,
      absl::StrCat(defect.message, " (", Where(ctx), "; the rest of the page goes on)"));
  return record;
}

// The JSON of a page, or why not with the byte offset (a JSON or UTF-8
// error is a defect of the page itself).
absl::StatusOr<json> ParsePage(absl::string_view body, const PageContext& ctx) {
  if (absl::Status bounded = CheckJsonBounds(body); !bounded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Where(ctx), ": the body is refused (",
                                                   body.size(), " bytes): ", bounded.message()));
  }
  try {
    return json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    return absl::InvalidArgumentError(absl::StrCat(
        Where(ctx), ": the body is not JSON (", body.size(), " bytes; error at byte ", at,
        ": ", absl::CHexEscape(e.what()), "; starting '", absl::CHexEscape(body.substr(0, 40)),
        "')"));
  }
}

// True for a history Bundle's DELETE entry (it carries no resource).
bool IsHistoryDelete(const PageContext& ctx, const json& entry) {
  const json* request = Member(entry, "request");
  return ctx.history && request != nullptr && StringMember(*request, "method") == "DELETE";
}

// Each issue of an OperationOutcome as "severity (code): text", bounded.
void AddIssues(const json& outcome, std::vector<std::string>* warnings) {
  const json* issues = Member(outcome, "issue");
  if (issues == nullptr || !issues->is_array()) return;
  for (const json& issue : *issues) {
    std::string text = StringMember(issue, "diagnostics");
    if (const json* details = Member(issue, "details"); text.empty() && details != nullptr)
      text = StringMember(*details, "text");
    warnings->push_back(OneLine(absl::StrCat(StringMember(issue, "severity"), " (",
                                             StringMember(issue, "code"), "): ", text),
                                kMaxWarning));
  }
}

// The indexes of the entries that become records (matches, history DELETEs
// and defective entries), in Bundle order; fills `included` with the other
// resources by Type/id and `warnings` with OperationOutcome issues.
std::vector<size_t> Classify(const json& entries, const PageContext& ctx,
                             std::map<std::string, const json*>* included,
                             std::vector<std::string>* warnings) {
  std::vector<size_t> matches;
  for (size_t i = 0; i < entries.size(); ++i) {
    const json& entry = entries[i];
    std::string mode;
    if (const json* search = Member(entry, "search")) mode = StringMember(*search, "mode");
    const json* resource = Member(entry, "resource");
    if (resource != nullptr && StringMember(*resource, "resourceType") == "OperationOutcome") {
      AddIssues(*resource, warnings);
      continue;
    }
    if (mode == "outcome") continue;
    if (IsHistoryDelete(ctx, entry) || resource == nullptr || !resource->is_object()) {
      matches.push_back(i);  // a DELETE, or a defect
      continue;
    }
    const std::string rtype = StringMember(*resource, "resourceType");
    if (rtype == ctx.resource_type && (ctx.history || mode != "include")) {
      matches.push_back(i);
      continue;
    }
    const std::string id = StringMember(*resource, "id");
    if (!rtype.empty() && !id.empty()) (*included)[absl::StrCat(rtype, "/", id)] = resource;
  }
  return matches;
}

// The deletion a history DELETE entry records, or its defect.
v1::SourceRecord DeleteRecord(const PageContext& ctx, size_t i, const json& entry) {
  const json& request = *Member(entry, "request");
  const json* response = Member(entry, "response");
  const std::string url = StringMember(request, "url");
  absl::StatusOr<FhirReference> ref = ParseFhirReference(url);
  if (!ref.ok() || ref->type != ctx.resource_type)
    ref = ParseFhirReference(StringMember(entry, "fullUrl"));
  if (!ref.ok() || ref->type != ctx.resource_type) {
    return DefectRecord(ctx, i, entry, "",
                        {".request.url", "fetch.entry.delete_target", url,
                         absl::StrCat("a DELETE whose request.url names no ", ctx.resource_type)});
  }
  const std::string modified = response ? StringMember(*response, "lastModified") : "";
  absl::StatusOr<absl::Time> when = ParseFhirInstant(modified);
  if (!when.ok()) {
    return DefectRecord(ctx, i, entry, ref->id,
                        {".response.lastModified", "fetch.entry.delete_time", modified,
                         absl::StrCat("the DELETE of ", ref->id,
                                      " has no usable response.lastModified: ",
                                      when.status().message())});
  }
  v1::SourceRecord record;
  record.set_source_id(ctx.source_id);
  record.set_location_id(ref->id);
  if (response) record.set_version_id(VersionFromEtag(StringMember(*response, "etag")));
  *record.mutable_last_updated() = ToTimestamp(*when);
  record.set_deleted(true);
  return record;
}

// Joins a Location to the Organization and Endpoints the page included.
void ResolveReferences(const PageContext& ctx, const json& resource,
                       const std::map<std::string, const json*>& included,
                       v1::SourceRecord* record) {
  if (const json* org = Member(resource, "managingOrganization"); org && org->is_object())
    Resolve(*org, included, "Organization", ctx.expect_organization, record, true);
  if (const json* eps = Member(resource, "endpoint"); eps && eps->is_array()) {
    for (const json& ep : *eps)
      if (ep.is_object()) Resolve(ep, included, "Endpoint", ctx.expect_endpoint, record, false);
  }
}

// The record version a matching resource entry carries, or its defect.
v1::SourceRecord ResourceRecord(const PageContext& ctx, size_t i, const json& entry,
                                const std::map<std::string, const json*>& included) {
  const json& resource = *Member(entry, "resource");
  const std::string id = StringMember(resource, "id");
  if (id.empty()) {
    return DefectRecord(ctx, i, entry, "",
                        {".resource.id", "fetch.location.id_missing",
                         StringMember(entry, "fullUrl"),
                         absl::StrCat("a ", ctx.resource_type, " without an id")});
  }
  const json* meta = Member(resource, "meta");
  const std::string last_updated = meta ? StringMember(*meta, "lastUpdated") : "";
  absl::StatusOr<absl::Time> when = ParseFhirInstant(last_updated);
  if (!when.ok()) {
    return DefectRecord(ctx, i, entry, id,
                        {".resource.meta.lastUpdated", "fetch.location.last_updated",
                         last_updated,
                         absl::StrCat(ctx.resource_type, "/", SafeUtf8(id, 100),
                                      " has no usable meta.lastUpdated: ",
                                      when.status().message())});
  }
  v1::SourceRecord record;
  record.set_source_id(ctx.source_id);
  record.set_location_id(id);
  if (meta) record.set_version_id(StringMember(*meta, "versionId"));
  *record.mutable_last_updated() = ToTimestamp(*when);
  record.set_location_json(resource.dump());
  *record.mutable_physical_type() = PhysicalTypeOf(resource);
  ResolveReferences(ctx, resource, included, &record);
  return record;
}

// The record entry `i` becomes: a version, a deletion, or a defect.
v1::SourceRecord EntryRecord(const PageContext& ctx, size_t i, const json& entry,
                             const std::map<std::string, const json*>& included) {
  if (!entry.is_object()) {
    return DefectRecord(ctx, i, entry, "",
                        {"", "fetch.entry.not_object", entry.type_name(),
                         "the entry is not a JSON object"});
  }
  if (IsHistoryDelete(ctx, entry)) return DeleteRecord(ctx, i, entry);
  const json* resource = Member(entry, "resource");
  if (resource != nullptr && resource->is_object()) return ResourceRecord(ctx, i, entry, included);
  return DefectRecord(ctx, i, entry, "",
                      {".resource", "fetch.entry.no_resource", StringMember(entry, "fullUrl"),
                       "the entry has no resource"});
}

}  // namespace

absl::Time RecordTime(const v1::SourceRecord& record) {
  return FromTimestamp(record.last_updated());
}

absl::StatusOr<BundlePage> ParseBundlePage(absl::string_view body, const PageContext& ctx) {
  absl::StatusOr<json> parsed = ParsePage(body, ctx);
  if (!parsed.ok()) return parsed.status();
  const json& doc = *parsed;
  const std::string type = StringMember(doc, "resourceType");
  if (type != "Bundle") {
    std::string detail = type == "OperationOutcome"
                             ? absl::StrCat(": ", OperationOutcomeText(body))
                             : std::string();
    return absl::InvalidArgumentError(absl::StrCat(
        Where(ctx), ": expected a FHIR Bundle, got ",
        type.empty() ? std::string("JSON without resourceType")
                     : absl::StrCat("resourceType '", SafeUtf8(type, 60), "'"),
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

  std::map<std::string, const json*> included;
  const std::vector<size_t> matches = Classify(*entries, ctx, &included, &page.warnings);
  page.records.reserve(matches.size());
  for (size_t i : matches) page.records.push_back(EntryRecord(ctx, i, (*entries)[i], included));
  return page;
}

}  // namespace mflsync::fetcher
