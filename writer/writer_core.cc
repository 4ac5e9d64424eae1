#include "writer/writer_core.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/url.h"

namespace mflsync::writer {

OpenImisOptions EndpointOptions(const OpenImisOptions& root, OpenImisApiKind kind) {
  OpenImisOptions options = root;
  options.base_url =
      JoinUrl(root.base_url, kind == OpenImisApiKind::kGraphql ? "graphql" : "api_fhir_r4");
  return options;
}

WriterCore::WriterCore(WriterCoreOptions options)
    : options_(std::move(options)),
      pool_(ApiFactory(), options_.connections),
      writer_(&pool_, &index_, options_.write) {}

OpenImisApiFactory WriterCore::ApiFactory() {
  if (options_.api == OpenImisApiKind::kGraphql) {
    graphql_session_ = std::make_shared<GraphqlSession>(
        EndpointOptions(options_.openimis, OpenImisApiKind::kGraphql));
    return [this] {
      return std::make_unique<GraphqlApi>(graphql_session_, district_ids_, options_.graphql);
    };
  }
  fhir_session_ = std::make_shared<OpenImisSession>(
      EndpointOptions(options_.openimis, OpenImisApiKind::kFhir));
  return [this] { return std::make_unique<FhirApi>(fhir_session_, options_.fhir); };
}

int64_t WriterCore::logins() const {
  return graphql_session_ != nullptr ? graphql_session_->logins() : fhir_session_->logins();
}

WriterCore::~WriterCore() { Stop(); }

void WriterCore::StartBackgroundLoad() {
  if (loader_.joinable()) return;
  loader_ = std::thread([this] {
    absl::Duration wait = options_.index_retry_interval;
    while (!stop_.HasBeenNotified()) {
      if (index_.loaded()) return;  // a RefreshIndex call got there first
      absl::Status status = LoadIndex();
      if (status.ok()) return;
      LogWarning("openIMIS index load failed; retrying",
                 {{"error", std::string(status.message())},
                  {"retry_in_s", absl::ToDoubleSeconds(wait)}});
      if (stop_.WaitForNotificationWithTimeout(wait)) return;
      wait = std::min(wait * 2, absl::Seconds(60));
    }
  });
}

void WriterCore::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (loader_.joinable()) loader_.join();
}

absl::Status WriterCore::LoadIndex() {
  absl::MutexLock reload(&reload_mu_);
  auto fail = [this](absl::Status status) {
    absl::MutexLock lock(&status_mu_);
    last_load_error_ = std::string(status.message());
    return status;
  };
  if (options_.openimis.username.empty()) {
    return fail(absl::FailedPreconditionError(
        "openimis.username is not set (MFLSYNC_OPENIMIS__USERNAME): the writer cannot "
        "log in to openIMIS"));
  }
  const absl::Time start = absl::Now();
  ConnectionPool::Lease api = pool_.Acquire();
  // Each record is turned into an index entry as its page arrives: the load
  // holds one page, not all of openIMIS.
  SnapshotBuilder builder;
  absl::Status listed = api->LoadIndex(builder, options_.index_page_size);
  if (!listed.ok()) return fail(listed);
  IndexSnapshot snapshot = std::move(builder).Finish();
  const size_t area_count = snapshot.areas.size();
  index_.Replace(std::move(snapshot), absl::Now());
  {
    absl::MutexLock lock(&status_mu_);
    last_load_error_.clear();
  }
  LogInfo("openIMIS index loaded",
          {{"facilities", index_.facility_count()},
           {"districts", index_.district_count()},
           {"areas", area_count},
           {"millis", absl::ToInt64Milliseconds(absl::Now() - start)}});
  return absl::OkStatus();
}

absl::Status WriterCore::NotLoaded() const {
  absl::MutexLock lock(&status_mu_);
  return absl::UnavailableError(absl::StrCat(
      "the openIMIS index is not loaded yet (", last_load_error_,
      "); the writer keeps retrying, or call RefreshIndex"));
}

absl::StatusOr<mflsync::v1::WriteFacilitiesResponse> WriterCore::Write(
    const mflsync::v1::WriteFacilitiesRequest& request) {
  if (!index_.loaded()) return NotLoaded();
  absl::ReaderMutexLock lock(&reload_mu_);
  mflsync::v1::WriteFacilitiesResponse response = writer_.Write(request);
  int counts[6] = {0, 0, 0, 0, 0, 0};
  for (const auto& result : response.results()) {
    ++counts[std::clamp<int>(result.outcome(), 0, 5)];
  }
  LogInfo("write batch", {{"run_id", request.run_id()},
                          {"items", request.items_size()},
                          {"created", counts[1]},
                          {"updated", counts[2]},
                          {"unchanged", counts[3]},
                          {"rejected", counts[4]},
                          {"failed", counts[5]}});
  return response;
}

absl::StatusOr<mflsync::v1::LookupFacilitiesResponse> WriterCore::Lookup(
    const mflsync::v1::LookupFacilitiesRequest& request) const {
  if (!index_.loaded()) return NotLoaded();
  std::vector<std::string> codes(request.codes().begin(), request.codes().end());
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& name : request.names()) {
    names.emplace_back(name.name(), name.district_code());
  }
  mflsync::v1::LookupFacilitiesResponse response;
  for (auto& facility : index_.Lookup(codes, names)) {
    *response.add_facilities() = std::move(facility);
  }
  *response.mutable_index_loaded_at() = ToTimestamp(index_.loaded_at());
  return response;
}

absl::StatusOr<mflsync::v1::ListDistrictsResponse> WriterCore::ListDistricts() const {
  if (!index_.loaded()) return NotLoaded();
  mflsync::v1::ListDistrictsResponse response;
  for (auto& district : index_.Districts()) {
    *response.add_districts() = std::move(district);
  }
  return response;
}

absl::StatusOr<mflsync::v1::PlanWritesResponse> WriterCore::Plan(
    const mflsync::v1::PlanWritesRequest& request) const {
  if (!index_.loaded()) return NotLoaded();
  return planner_.Plan(request);
}

absl::StatusOr<mflsync::v1::RefreshIndexResponse> WriterCore::Refresh() {
  absl::Status status = LoadIndex();
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("index refresh failed: ", status.message()));
  }
  mflsync::v1::RefreshIndexResponse response;
  response.set_facilities(static_cast<int64_t>(index_.facility_count()));
  response.set_districts(static_cast<int64_t>(index_.district_count()));
  *response.mutable_loaded_at() = ToTimestamp(index_.loaded_at());
  return response;
}

}  // namespace mflsync::writer
