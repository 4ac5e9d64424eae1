#include "writer/facility_writer.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/url.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using mflsync::v1::WriteFacilitiesRequest;
using mflsync::v1::WriteFacilitiesResponse;
using mflsync::v1::WriteItem;
using mflsync::v1::WriteResult;
using nlohmann::json;

WriteResult Result(const std::string& record_key, mflsync::v1::WriteOutcome outcome,
                   std::string message) {
  WriteResult result;
  result.set_record_key(record_key);
  result.set_outcome(outcome);
  result.set_message(Redact(message));
  return result;
}

// Retry-After in seconds, or zero.
absl::Duration RetryAfter(const HttpResponse& response) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(response.Header("retry-after"), &seconds) && seconds > 0) {
    return absl::Seconds(seconds);
  }
  return absl::ZeroDuration();
}

// A refusal that a later attempt may not get: 429 (rate limit) and 503
// (unavailable) are answered before openIMIS handles the request.
bool RefusedBeforeHandling(int status) { return status == 429 || status == 503; }

WriteResult Unchanged(const WriteItem& item) {
  WriteResult result = Result(item.record_key(), mflsync::v1::WRITE_OUTCOME_UNCHANGED,
                              "no change: openIMIS already holds this facility");
  result.set_uuid(item.facility().uuid());
  return result;
}

// Same code, name and district: the facility a create was meant to make.
bool SameIdentity(const HealthFacility& found, const HealthFacility& wanted) {
  return found.code() == wanted.code() && found.name() == wanted.name() &&
         found.district_uuid() == wanted.district_uuid();
}

std::string Describe(const HealthFacility& f) {
  return absl::StrCat("'", f.name(), "' (uuid ", f.uuid(), ", district ",
                      f.district_code().empty() ? f.district_uuid() : f.district_code(),
                      ")");
}

}  // namespace

ConnectionPool::ConnectionPool(std::shared_ptr<OpenImisSession> session, int size)
    : session_(std::move(session)) {
  size = std::max(1, size);
  for (int i = 0; i < size; ++i) {
    clients_.push_back(std::make_unique<OpenImisClient>(session_));
  }
  absl::MutexLock lock(&mu_);
  for (auto& client : clients_) free_.push_back(client.get());
}

ConnectionPool::Lease ConnectionPool::Acquire() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::vector<OpenImisClient*>* free) { return !free->empty(); }, &free_));
  OpenImisClient* client = free_.back();
  free_.pop_back();
  return Lease(this, client);
}

ConnectionPool::Lease::~Lease() {
  if (client_ == nullptr) return;
  absl::MutexLock lock(&pool_->mu_);
  pool_->free_.push_back(client_);
}

FacilityWriter::FacilityWriter(ConnectionPool* pool, FacilityIndex* index,
                               FacilityWriterOptions options)
    : pool_(pool), index_(index), options_(options) {
  options_.retry.max_attempts = std::max(1, options_.retry.max_attempts);
}

WriteFacilitiesResponse FacilityWriter::Write(const WriteFacilitiesRequest& request) {
  const int n = request.items_size();
  std::vector<WriteResult> results(n);
  // Items sharing an HF code go to one worker, in order, so that two writes
  // of one facility never race each other.
  std::vector<std::vector<int>> groups;
  std::map<std::string, size_t> group_of_code;
  for (int i = 0; i < n; ++i) {
    if (request.items(i).action() == mflsync::v1::WRITE_ACTION_NOOP) {
      results[i] = Unchanged(request.items(i));  // no call
      continue;
    }
    const std::string& code = request.items(i).facility().code();
    if (code.empty()) {
      groups.push_back({i});
      continue;
    }
    auto [it, inserted] = group_of_code.emplace(code, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::atomic<size_t> next{0};
  auto work = [&]() {
    std::optional<ConnectionPool::Lease> lease;
    for (size_t g = next++; g < groups.size(); g = next++) {
      for (int i : groups[g]) {
        const WriteItem& item = request.items(i);
        if (!lease.has_value()) lease.emplace(pool_->Acquire());
        results[i] = WriteOne(**lease, item);
      }
    }
  };
  const int workers = static_cast<int>(
      std::min<size_t>(groups.size(), static_cast<size_t>(pool_->size())));
  std::vector<std::thread> threads;
  for (int w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  WriteFacilitiesResponse response;
  for (WriteResult& result : results) *response.add_results() = std::move(result);
  return response;
}

WriteResult FacilityWriter::WriteOne(OpenImisClient& client, const WriteItem& item) {
  const std::string& key = item.record_key();
  HealthFacility facility = item.facility();
  switch (item.action()) {
    case mflsync::v1::WRITE_ACTION_NOOP:
      return Unchanged(item);
    case mflsync::v1::WRITE_ACTION_CREATE:
    case mflsync::v1::WRITE_ACTION_UPDATE:
      break;
    default:
      return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                    absl::StrCat("write item ", key, ": action ",
                                 mflsync::v1::WriteAction_Name(item.action()),
                                 " cannot be written (expected CREATE, UPDATE or NOOP)"));
  }
  if (facility.code().empty()) {
    return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                  absl::StrCat("write item ", key, ": the facility has no HF code"));
  }
  if (facility.district_uuid().empty() && !facility.district_code().empty()) {
    std::optional<mflsync::v1::District> district =
        index_->DistrictByCode(facility.district_code());
    if (district.has_value()) facility.set_district_uuid(district->uuid());
  }
  if (facility.district_uuid().empty()) {
    return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                  absl::StrCat("write item ", key, " (HF code ", facility.code(),
                               "): no district: district_uuid is empty and district "
                               "code '", facility.district_code(),
                               "' is not an openIMIS district"));
  }
  if (facility.district_code().empty()) {
    std::optional<mflsync::v1::District> district =
        index_->DistrictByUuid(facility.district_uuid());
    if (district.has_value()) facility.set_district_code(district->code());
  }
  if (item.action() == mflsync::v1::WRITE_ACTION_UPDATE) {
    if (facility.uuid().empty()) {
      return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                    absl::StrCat("write item ", key, " (HF code ", facility.code(),
                                 "): UPDATE needs the facility's openIMIS uuid"));
    }
    return Update(client, key, std::move(facility));
  }
  facility.clear_uuid();
  return Create(client, key, std::move(facility));
}

void FacilityWriter::Backoff(int attempt, absl::Duration retry_after) {
  absl::Duration wait = options_.retry.initial_backoff;
  for (int i = 1; i < attempt && wait < options_.retry.max_backoff; ++i) wait *= 2;
  wait = std::min(wait, options_.retry.max_backoff);
  thread_local absl::BitGen gen;
  wait = wait / 2 + absl::Nanoseconds(absl::Uniform<int64_t>(
                        gen, 0, std::max<int64_t>(1, absl::ToInt64Nanoseconds(wait / 2))));
  if (retry_after > wait) wait = std::min(retry_after, options_.retry.max_backoff);
  absl::SleepFor(wait);
}

absl::StatusOr<std::optional<HealthFacility>> FacilityWriter::LookupByCode(
    OpenImisClient& client, const std::string& code) {
  absl::StatusOr<HttpResponse> response = client.Send(
      "GET", absl::StrCat("Location/?", BuildQuery({{"identifier", code},
                                                    {"physicalType", "si"}})));
  if (!response.ok()) return response.status();
  if (response->status == 404) return std::optional<HealthFacility>();
  if (response->status != 200) {
    return absl::UnavailableError(absl::StrCat("lookup of HF code ", code,
                                               " answered HTTP ", response->status,
                                               ": ", OpenImisMessage(*response)));
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
      return absl::DataLossError(absl::StrCat("lookup of HF code ", code, ": ",
                                              facility.status().message()));
    }
    // openIMIS tries the value as a UUID first: keep only a code match.
    if (facility->code() == code) return std::optional<HealthFacility>(*facility);
  }
  return std::optional<HealthFacility>();
}

void FacilityWriter::Written(OpenImisClient& client, HealthFacility facility,
                             WriteResult* result) {
  index_->Upsert(facility);
  if (!options_.check_location_view) return;
  const std::string path = absl::StrCat("Location/", facility.uuid(), "/?physicalType=si");
  absl::StatusOr<HttpResponse> view = client.Send("GET", path);
  std::string problem;
  if (!view.ok()) {
    problem = std::string(view.status().message());
  } else if (view->status != 200) {
    problem = absl::StrCat("HTTP ", view->status, ": ", OpenImisMessage(*view));
  } else {
    json doc = json::parse(view->body, nullptr, false);
    absl::StatusOr<HealthFacility> seen = FacilityFromLocation(doc);
    if (!seen.ok()) {
      problem = std::string(seen.status().message());
    } else if (!SameLocationView(*seen, facility)) {
      absl::StatusOr<HttpResponse> put =
          client.Send("PUT", path, LocationSiteBody(facility).dump());
      if (put.ok() && put->status == 200) {
        result->set_message(absl::StrCat(
            result->message(), "; the Location view differed (code/name/level/parent/status) "
                               "and was updated"));
        return;
      }
      problem = put.ok() ? absl::StrCat("Location update answered HTTP ", put->status,
                                        ": ", OpenImisMessage(*put))
                         : std::string(put.status().message());
    }
  }
  if (!problem.empty()) {
    result->set_message(Redact(absl::StrCat(
        result->message(), "; the Location view could not be checked: ", problem)));
    LogWarning("openIMIS Location view check failed",
               {{"code", facility.code()}, {"uuid", facility.uuid()}, {"error", Redact(problem)}});
  }
}

WriteResult FacilityWriter::Create(OpenImisClient& client, const std::string& key,
                                   HealthFacility facility) {
  const std::string what = absl::StrCat("create of HF code ", facility.code());
  // The index already holds the code: a write whose answer was lost earlier,
  // or another facility. Never POST a second one.
  if (std::optional<HealthFacility> known = index_->ByCode(facility.code())) {
    facility.set_uuid(known->uuid());
    if (SameWrittenContent(*known, facility)) {
      WriteResult result = Result(key, mflsync::v1::WRITE_OUTCOME_UNCHANGED,
                                  absl::StrCat(what, ": openIMIS already holds it as ",
                                               Describe(*known), " with this content"));
      result.set_uuid(known->uuid());
      return result;
    }
    WriteResult result = Result(
        key, mflsync::v1::WRITE_OUTCOME_REJECTED,
        absl::StrCat(what, ": openIMIS already has HF code ", facility.code(), " as ",
                     Describe(*known), "; reconcile the record again (update that uuid)"));
    result.set_uuid(known->uuid());
    return result;
  }
  const std::string body = OrganizationBody(facility).dump();
  WriteResult result = Result(key, mflsync::v1::WRITE_OUTCOME_FAILED, "");
  bool unknown = false;  // a POST may have been committed without an answer
  bool ever_unknown = false;
  std::string last_error;
  auto resolve = [&](const HealthFacility& found) {
    if (SameIdentity(found, facility)) {
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_CREATED);
      result.set_uuid(found.uuid());
      result.set_message(Redact(absl::StrCat(
          what, ": created once (", last_error,
          "); a lookup by code found the facility with this name and district, so it "
          "was not posted again")));
      facility.set_uuid(found.uuid());
      Written(client, facility, &result);
    } else {
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_REJECTED);
      result.set_uuid(found.uuid());
      result.set_message(Redact(absl::StrCat(
          what, ": openIMIS already has HF code ", facility.code(), " as ",
          Describe(found), "; reconcile the record again")));
    }
    return result;
  };
  int attempt = 0;
  while (attempt < options_.retry.max_attempts) {
    if (unknown) {
      ++attempt;
      result.set_attempts(result.attempts() + 1);
      absl::StatusOr<std::optional<HealthFacility>> found =
          LookupByCode(client, facility.code());
      if (found.ok()) {
        if (found->has_value()) return resolve(**found);
        unknown = false;  // not committed: posting again is safe
      } else {
        last_error = absl::StrCat(last_error, "; lookup by code failed: ",
                                  found.status().message());
        Backoff(attempt, absl::ZeroDuration());
        continue;
      }
      if (attempt >= options_.retry.max_attempts) break;
    }
    ++attempt;
    result.set_attempts(result.attempts() + 1);
    absl::StatusOr<HttpResponse> response = client.Send("POST", "Organization/", body);
    if (!response.ok()) {
      last_error = std::string(response.status().message());
      if (response.status().code() == absl::StatusCode::kUnauthenticated ||
          response.status().code() == absl::StatusCode::kInvalidArgument) {
        break;  // credentials or a bad URL: no request was handled
      }
      unknown = ever_unknown = true;
      if (attempt < options_.retry.max_attempts) Backoff(attempt, absl::ZeroDuration());
      continue;
    }
    result.set_http_status(response->status);
    if (response->status == 201 || response->status == 200) {
      json doc = json::parse(response->body, nullptr, false);
      absl::StatusOr<HealthFacility> created = FacilityFromOrganization(doc);
      std::string uuid = created.ok() ? created->uuid() : "";
      if (uuid.empty()) {
        // Committed, but the answer does not say where: find it by code.
        absl::StatusOr<std::optional<HealthFacility>> found =
            LookupByCode(client, facility.code());
        if (found.ok() && found->has_value()) uuid = (*found)->uuid();
      }
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_CREATED);
      result.set_uuid(uuid);
      result.set_message(absl::StrCat(what, ": created (HTTP ", response->status, ")"));
      facility.set_uuid(uuid);
      if (!uuid.empty()) Written(client, facility, &result);
      return result;
    }
    last_error = absl::StrCat("HTTP ", response->status, ": ", OpenImisMessage(*response));
    if (RefusedBeforeHandling(response->status)) {
      if (attempt < options_.retry.max_attempts) Backoff(attempt, RetryAfter(*response));
      continue;
    }
    if (response->status >= 400 && response->status < 500) {
      if (response->status == 400 || response->status == 409) {
        // The refusal may be about our own record: an earlier POST whose
        // answer was lost committed after our lookup (a slow server), or
        // libcurl silently re-sent this POST after its reused connection
        // died without an answer. A facility with this code, name and
        // district is then ours: report it, never post a second one.
        absl::StatusOr<std::optional<HealthFacility>> found =
            LookupByCode(client, facility.code());
        if (found.ok() && found->has_value() && SameIdentity(**found, facility)) {
          last_error = absl::StrCat("a POST was refused as a duplicate: ", last_error);
          return resolve(**found);
        }
      }
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_REJECTED);
      result.set_message(Redact(absl::StrCat(what, ": openIMIS refused it (", last_error, ")")));
      return result;
    }
    unknown = ever_unknown = true;  // 5xx: it may have been committed before the fault
    if (attempt < options_.retry.max_attempts) Backoff(attempt, RetryAfter(*response));
  }
  if (unknown) {
    // One last lookup so that the outcome is known whenever openIMIS answers.
    result.set_attempts(result.attempts() + 1);
    absl::StatusOr<std::optional<HealthFacility>> found =
        LookupByCode(client, facility.code());
    if (found.ok() && found->has_value()) return resolve(**found);
    if (found.ok()) {
      last_error = absl::StrCat(last_error, "; a lookup by code found no facility, "
                                            "so none was created");
    } else {
      last_error = absl::StrCat(
          last_error, "; the outcome is unknown (lookup by code failed: ",
          found.status().message(),
          "); the next index refresh finds the facility if it was created");
    }
  }
  result.set_outcome(mflsync::v1::WRITE_OUTCOME_FAILED);
  result.set_message(Redact(absl::StrCat(what, ": failed after ", result.attempts(),
                                         " attempts: ", last_error)));
  return result;
}

WriteResult FacilityWriter::Update(OpenImisClient& client, const std::string& key,
                                   HealthFacility facility) {
  const std::string what =
      absl::StrCat("update of HF code ", facility.code(), " (uuid ", facility.uuid(), ")");
  const std::string body = OrganizationBody(facility).dump();
  const std::string path = absl::StrCat("Organization/", facility.uuid(), "/");
  WriteResult result = Result(key, mflsync::v1::WRITE_OUTCOME_FAILED, "");
  result.set_uuid(facility.uuid());
  std::string last_error;
  for (int attempt = 1; attempt <= options_.retry.max_attempts; ++attempt) {
    result.set_attempts(attempt);
    // PUT is idempotent: repeating it after a lost answer is safe.
    absl::StatusOr<HttpResponse> response = client.Send("PUT", path, body);
    if (!response.ok()) {
      last_error = std::string(response.status().message());
      if (response.status().code() == absl::StatusCode::kUnauthenticated ||
          response.status().code() == absl::StatusCode::kInvalidArgument) {
        break;
      }
      if (attempt < options_.retry.max_attempts) Backoff(attempt, absl::ZeroDuration());
      continue;
    }
    result.set_http_status(response->status);
    if (response->status == 200 || response->status == 201) {
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_UPDATED);
      result.set_message(absl::StrCat(what, ": updated (HTTP ", response->status, ")"));
      Written(client, facility, &result);
      return result;
    }
    last_error = absl::StrCat("HTTP ", response->status, ": ", OpenImisMessage(*response));
    if (response->status == 404) {
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_REJECTED);
      result.set_message(Redact(absl::StrCat(
          what, ": openIMIS has no facility with this uuid (", last_error,
          "); refresh the index and reconcile again")));
      return result;
    }
    if (response->status >= 400 && response->status < 500 &&
        !RefusedBeforeHandling(response->status)) {
      result.set_outcome(mflsync::v1::WRITE_OUTCOME_REJECTED);
      result.set_message(Redact(absl::StrCat(what, ": openIMIS refused it (", last_error, ")")));
      return result;
    }
    if (attempt < options_.retry.max_attempts) Backoff(attempt, RetryAfter(*response));
  }
  result.set_outcome(mflsync::v1::WRITE_OUTCOME_FAILED);
  result.set_message(Redact(absl::StrCat(what, ": failed after ", result.attempts(),
                                         " attempts: ", last_error)));
  return result;
}

}  // namespace mflsync::writer
