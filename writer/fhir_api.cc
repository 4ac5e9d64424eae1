#include "writer/fhir_api.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/url.h"
#include "writer/facility_identity.h"
#include "writer/openimis_fhir.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using nlohmann::json;
using Kind = WriteAttempt::Kind;

constexpr char kUseGraphql[] =
    "set openimis.api to graphql (the default), the path the released openIMIS accepts "
    "health-facility writes on";

absl::Duration RetryAfter(const HttpResponse& response) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(response.Header("retry-after"), &seconds) && seconds > 0) {
    return absl::Seconds(seconds);
  }
  return absl::ZeroDuration();
}

}  // namespace

std::string KnownFhirDefect(absl::string_view operation, const HttpResponse& response) {
  if (response.status != 500) return "";
  const std::string text = OpenImisMessage(response);
  const char* defect = nullptr;
  if (absl::StrContains(text, "HealthFacility matching query does not exist")) {
    defect = "its Organization serializer passes a fresh uuid to "
             "HealthFacilityService.update_or_create, which treats it as an update";
  } else if (absl::StrContains(text, "Cannot resolve keyword 'identifier'")) {
    defect = "its Organization update looks the facility up by a field it does not have";
  } else if (absl::StrContains(operation, "physicalType=si")) {
    defect = "its facility Location look-ups search the area table";
  }
  if (defect == nullptr) return "";
  return absl::StrCat("openIMIS's FHIR R4 module answered HTTP 500 to ", operation, " (",
                      text.substr(0, 200), "): a known defect of openimis-be-api_fhir_r4 "
                      "1.10.0 (", defect, "); ", kUseGraphql);
}

FhirApi::FhirApi(std::shared_ptr<OpenImisSession> session, FhirApiOptions options)
    : client_(std::move(session)), options_(options) {}

absl::Status FhirApi::LoadIndex(SnapshotBuilder& builder, int page_size) {
  absl::Status listed = client_.ForEach(
      "Location", {}, page_size, [&builder](const json& r) { return builder.AddArea(r); });
  if (!listed.ok()) return listed;
  listed = client_.ForEach("Location", {{"physicalType", "si"}}, page_size,
                           [&builder](const json& r) { return builder.AddFacilityLocation(r); });
  if (!listed.ok() || !options_.index_organizations) return listed;
  return client_.ForEach("Organization", {{"type", "prov"}}, page_size,
                         [&builder](const json& r) { return builder.AddOrganization(r); });
}

absl::StatusOr<std::optional<HealthFacility>> FhirApi::FindByCode(const std::string& code) {
  const std::string path = absl::StrCat(
      "Location/?", BuildQuery({{"identifier", code}, {"physicalType", "si"}}));
  absl::StatusOr<HttpResponse> response = client_.Send("GET", path);
  if (!response.ok()) return response.status();
  if (response->status == 404) return std::optional<HealthFacility>();
  if (response->status != 200) {
    const std::string defect = KnownFhirDefect(absl::StrCat("GET ", path), *response);
    if (!defect.empty()) return absl::FailedPreconditionError(defect);
    return absl::UnavailableError(absl::StrCat("look-up of HF code ", code, " answered HTTP ",
                                               response->status, ": ",
                                               OpenImisMessage(*response)));
  }
  json doc = json::parse(response->body, nullptr, false);
  std::vector<json> candidates;
  if (doc.is_object() && doc.value("resourceType", "") == "Bundle") {
    if (doc.contains("entry") && doc["entry"].is_array()) {
      for (const json& entry : doc["entry"]) {
        if (entry.is_object() && entry.contains("resource")) {
          candidates.push_back(entry["resource"]);
        }
      }
    }
  } else {
    candidates.push_back(std::move(doc));
  }
  for (const json& resource : candidates) {
    absl::StatusOr<HealthFacility> facility = FacilityFromLocation(resource);
    if (!facility.ok()) {
      return absl::DataLossError(
          absl::StrCat("look-up of HF code ", code, ": ", facility.status().message()));
    }
    // openIMIS tries the value as a UUID first: keep only a code match.
    if (facility->code() == code) return std::optional<HealthFacility>(*facility);
  }
  return std::optional<HealthFacility>();
}

WriteAttempt FhirApi::Create(const HealthFacility& facility) {
  HealthFacility create = facility;
  create.clear_uuid();
  return Send("POST", "Organization/", create);
}

WriteAttempt FhirApi::Update(const HealthFacility& facility) {
  return Send("PUT", absl::StrCat("Organization/", facility.uuid(), "/"), facility);
}

WriteAttempt FhirApi::Send(absl::string_view method,
                           const std::string& path, const HealthFacility& facility) {
  WriteAttempt attempt;
  absl::StatusOr<HttpResponse> response =
      client_.Send(method, path, OrganizationBody(facility).dump());
  if (!response.ok()) {
    attempt.message = std::string(response.status().message());
    const absl::StatusCode code = response.status().code();
    attempt.kind = code == absl::StatusCode::kUnauthenticated ||
                           code == absl::StatusCode::kInvalidArgument
                       ? Kind::kFatal  // credentials or a bad URL: nothing was handled
                       : Kind::kUnknown;
    return attempt;
  }
  attempt.http_status = response->status;
  attempt.retry_after = RetryAfter(*response);
  const int status = response->status;
  if (status == 200 || status == 201) {
    attempt.kind = Kind::kWritten;
    attempt.message = absl::StrCat("HTTP ", status);
    HealthFacility stored = facility;
    absl::StatusOr<HealthFacility> answer =
        FacilityFromOrganization(json::parse(response->body, nullptr, false));
    if (answer.ok() && !answer->uuid().empty()) stored.set_uuid(answer->uuid());
    if (stored.uuid().empty()) {
      absl::StatusOr<std::optional<HealthFacility>> found = FindByCode(facility.code());
      if (found.ok() && found->has_value()) stored.set_uuid((*found)->uuid());
    }
    if (!stored.uuid().empty()) {
      absl::StatusOr<std::string> note = CheckLocationView(stored);
      if (!note.ok()) {
        attempt.incomplete = std::string(note.status().message());
      } else if (!note->empty()) {
        attempt.message = absl::StrCat(attempt.message, "; ", *note);
      }
      attempt.stored = std::move(stored);
    }
    return attempt;
  }
  attempt.message = absl::StrCat("HTTP ", status, ": ", OpenImisMessage(*response));
  const std::string defect = KnownFhirDefect(absl::StrCat(method, " ", path), *response);
  if (!defect.empty()) {
    attempt.kind = Kind::kFatal;
    attempt.message = defect;
  } else if (status == 429 || status == 503) {
    attempt.kind = Kind::kNotHandled;
  } else if (status == 404 && method == "PUT") {
    attempt.kind = Kind::kRefused;
    attempt.message = absl::StrCat("openIMIS has no facility with this uuid (",
                                   facility.uuid(), "; ", attempt.message, ")");
  } else if ((status == 400 || status == 409) &&
             absl::StrContains(attempt.message, "already exists")) {
    attempt.kind = Kind::kDuplicateCode;
  } else if (status >= 400 && status < 500) {
    attempt.kind = Kind::kRefused;
  } else {
    attempt.kind = Kind::kUnknown;  // 5xx: it may have been committed before the fault
  }
  return attempt;
}

absl::Status FhirApi::FinishWrite(const HealthFacility& stored) {
  absl::StatusOr<std::string> note = CheckLocationView(stored);
  return note.ok() ? absl::OkStatus() : note.status();
}

absl::StatusOr<std::string> FhirApi::CheckLocationView(const HealthFacility& facility) {
  if (!options_.check_location_view) return "";
  const std::string path = absl::StrCat("Location/", facility.uuid(), "/?physicalType=si");
  absl::StatusOr<HttpResponse> view = client_.Send("GET", path);
  std::string problem;
  if (!view.ok()) {
    problem = std::string(view.status().message());
  } else if (view->status != 200) {
    problem = absl::StrCat("HTTP ", view->status, ": ", OpenImisMessage(*view));
  } else {
    absl::StatusOr<HealthFacility> seen =
        FacilityFromLocation(json::parse(view->body, nullptr, false));
    if (!seen.ok()) {
      problem = std::string(seen.status().message());
    } else if (!SameLocationView(*seen, facility)) {
      absl::StatusOr<HttpResponse> put =
          client_.Send("PUT", path, LocationSiteBody(facility).dump());
      if (put.ok() && put->status == 200) {
        return "the Location view differed (code/name/level/parent/status) and was updated";
      }
      problem = put.ok() ? absl::StrCat("Location update answered HTTP ", put->status, ": ",
                                        OpenImisMessage(*put))
                         : std::string(put.status().message());
    }
  }
  if (problem.empty()) return "";
  LogWarning("openIMIS Location view check failed",
             {{"code", facility.code()}, {"uuid", facility.uuid()}, {"error", Redact(problem)}});
  return absl::UnavailableError(absl::StrCat(
      "its Location view (status, level, parent) could not be checked or brought in line: ",
      problem));
}

}  // namespace mflsync::writer
