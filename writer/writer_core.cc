#include "writer/writer_core.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
      incremental_reads_(pool_.Acquire()->incremental_reads()),
      writer_(&pool_, &index_, options_.write) {}

std::function<void(size_t)> WriterCore::SharedRequestObserver(const char* kind) const {
  if (!options_.on_shared_request) return {};
  return [observe = options_.on_shared_request, kind](size_t writes) { observe(kind, writes); };
}

OpenImisApiFactory WriterCore::ApiFactory() {
  if (options_.api == OpenImisApiKind::kGraphql) {
    graphql_session_ = std::make_shared<GraphqlSession>(
        EndpointOptions(options_.openimis, OpenImisApiKind::kGraphql));
    return [this] {
      return std::make_unique<GraphqlApi>(graphql_session_, district_ids_, options_.graphql,
                                          server_clock_, outcomes_, mutations_);
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

std::string WriterCore::ServerIdentity() const {
  return absl::StrCat(options_.api == OpenImisApiKind::kGraphql ? "graphql " : "fhir ",
                      options_.openimis.base_url);
}

void WriterCore::StartBackgroundLoad() {
  if (loader_.joinable()) return;
  loader_ = std::thread([this] {
    {
      absl::MutexLock lock(&reload_mu_);
      RestoreIndexLocked();
    }
    absl::Duration wait = options_.index_retry_interval;
    while (!stop_.HasBeenNotified()) {
      if (index_.loaded()) return;  // restored, or a RefreshIndex call got there first
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
  const bool first = !stop_.HasBeenNotified();
  if (first) stop_.Notify();
  if (loader_.joinable()) loader_.join();
  if (!first) return;  // the destructor after the module's Stop: saved already
  absl::MutexLock lock(&reload_mu_);
  if (index_.loaded()) SaveIndex();  // what was written since the last refresh
}

void WriterCore::RestoreIndexLocked() {
  if (options_.index_path.empty() || store_opened_) return;
  store_opened_ = true;
  absl::StatusOr<std::unique_ptr<IndexStore>> store = IndexStore::Open(options_.index_path);
  if (!store.ok()) {
    LogWarning("the writer's index store cannot be opened; the index lives in memory only",
               {{"error", std::string(store.status().message())}});
    return;
  }
  store_ = *std::move(store);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::optional<IndexMarks>> marks = store_->Restore(ServerIdentity(), index_);
  if (!marks.ok() || !marks->has_value()) {
    LogInfo("no stored index of this openIMIS; the first refresh reads it in full",
            {{"path", options_.index_path},
             {"error", marks.ok() ? "" : std::string(marks.status().message())}});
    return;
  }
  marks_ = **marks;
  store_rewrite_ = false;
  LogInfo("openIMIS index restored from its store",
          {{"path", options_.index_path},
           {"facilities", index_.facility_count()},
           {"districts", index_.district_count()},
           {"verified_at", absl::FormatTime(marks_.verified_at, absl::UTCTimeZone())},
           {"millis", absl::ToInt64Milliseconds(absl::Now() - start)}});
}

void WriterCore::SaveIndex() {
  if (store_ == nullptr) return;
  marks_.server = ServerIdentity();
  absl::Status saved = store_->Save(index_, marks_, store_rewrite_);
  store_rewrite_ = !saved.ok();
  if (!saved.ok()) {
    LogWarning("the writer's index store was not saved; the next save rewrites it",
               {{"error", std::string(saved.message())}});
  }
}

absl::Status WriterCore::LoadIndex() {
  absl::StatusOr<mflsync::v1::RefreshIndexResponse> loaded = Refresh();
  return loaded.status();
}

namespace {

// Puts what a refresh reads into the index as it arrives: the areas first
// (so that facilities get their district codes), then each facility;
// counts what changed and keeps the newest validityFrom. A facility added or
// changed with a validityFrom before `drift_before` is drift: an incremental
// refresh could not have seen it.
class RefreshSink final : public IndexSink {
 public:
  RefreshSink(FacilityIndex* index, absl::Time drift_before)
      : index_(index), drift_before_(drift_before) {}

  void PutArea(Area area) override { areas_.push_back(std::move(area)); }
  void PutFacility(const mflsync::v1::HealthFacility& facility, absl::Time changed_at) override {
    ApplyAreas();
    ++read_;
    const PutResult result = index_->Put(facility);
    if (result == PutResult::kAdded) ++added_;
    if (result == PutResult::kChanged) ++changed_;
    if (result != PutResult::kSame && changed_at < drift_before_) ++drift_;
    newest_ = std::max(newest_, changed_at);
  }
  // Once: the areas read replace the index's.
  void ApplyAreas() {
    if (applied_) return;
    applied_ = true;
    index_->SetAreas(std::move(areas_));
  }

  int64_t read() const { return read_; }
  int64_t added() const { return added_; }
  int64_t changed() const { return changed_; }
  int64_t drift() const { return drift_; }
  absl::Time newest() const { return newest_; }

 private:
  FacilityIndex* index_;
  absl::Time drift_before_;
  std::vector<Area> areas_;
  bool applied_ = false;
  int64_t read_ = 0, added_ = 0, changed_ = 0, drift_ = 0;
  absl::Time newest_ = absl::InfinitePast();
};

}  // namespace

absl::StatusOr<WriterCore::RefreshCounts> WriterCore::ReadChanges(absl::Time since) {
  ConnectionPool::Lease api = pool_.Acquire();
  RefreshSink sink(&index_, absl::InfinitePast());
  SnapshotBuilder builder(&sink);
  int64_t total = -1;
  absl::Status read = api->LoadChanges(builder, since, options_.index_page_size, &total);
  if (!read.ok()) return read;
  std::move(builder).Finish();
  sink.ApplyAreas();
  marks_.high_water = std::max(marks_.high_water, sink.newest());
  RefreshCounts counts{sink.read(), sink.added(), sink.changed(), 0};
  counts.openimis_total = total;
  return counts;
}

absl::StatusOr<WriterCore::RefreshCounts> WriterCore::ReadEverything(absl::Time drift_before) {
  const absl::Time start = absl::Now();
  ConnectionPool::Lease api = pool_.Acquire();
  RefreshSink sink(&index_, drift_before);
  SnapshotBuilder builder(&sink);
  index_.BeginSweep();
  absl::Status read = api->LoadIndex(builder, options_.index_page_size);
  if (!read.ok()) {
    index_.AbortSweep();
    return read;
  }
  std::move(builder).Finish();
  sink.ApplyAreas();
  std::vector<std::string> removed = index_.EndSweep();
  const int64_t removed_count = static_cast<int64_t>(removed.size());
  if (!removed.empty()) {
    removed.resize(std::min<size_t>(removed.size(), 20));
    LogWarning("the full read no longer found these facilities in openIMIS; removed from "
               "the index",
               {{"first_codes", absl::StrJoin(removed, ",")}});
  }
  marks_.high_water = std::max(marks_.high_water, sink.newest());
  marks_.verified_at = start;
  index_.MarkLoaded(absl::Now());
  RefreshCounts counts{sink.read(), sink.added(), sink.changed(), removed_count};
  counts.drift = sink.drift() + (drift_before == absl::InfinitePast() ? 0 : removed_count);
  return counts;
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

bool WriterCore::CanReadChanges() const {
  return incremental_reads_ && index_.loaded() && marks_.high_water != absl::InfinitePast();
}

bool WriterCore::WantsFull(mflsync::v1::RefreshMode mode) {
  if (mode == mflsync::v1::REFRESH_MODE_FULL || !CanReadChanges()) return true;
  if (mode == mflsync::v1::REFRESH_MODE_INCREMENTAL) return false;
  return absl::Now() - marks_.verified_at >= options_.index_verify_interval;
}

absl::Time WriterCore::Since() const {
  const absl::Time overlapped = marks_.high_water - options_.index_overlap;
  if (marks_.refresh_began == absl::InfinitePast()) return overlapped;
  // Rows in flight when the previous refresh began carry a validityFrom
  // after its start less the overlap; every row before was committed and read.
  return std::max(overlapped,
                  std::min(marks_.high_water, marks_.refresh_began - options_.index_overlap));
}

absl::StatusOr<mflsync::v1::RefreshIndexResponse> WriterCore::RefreshLocked(bool full) {
  const absl::Time start = absl::Now();
  const absl::Time began =
      server_clock_->AtLeast(start).value_or(absl::InfinitePast());
  // A full read of an index kept incrementally is a verification: what it
  // finds different from before the incremental mark is drift.
  const bool verify = full && CanReadChanges();
  const absl::Time since = Since();
  absl::StatusOr<RefreshCounts> counts =
      full ? ReadEverything(verify ? since : absl::InfinitePast()) : ReadChanges(since);
  if (counts.ok() && !full && counts->openimis_total >= 0 &&
      counts->openimis_total != static_cast<int64_t>(index_.facility_count())) {
    // Facilities deleted in openIMIS (or its database replaced): only a
    // full read finds which.
    LogWarning("openIMIS holds another number of facilities than the index after the "
               "changes; reading everything",
               {{"openimis", counts->openimis_total}, {"index", index_.facility_count()}});
    full = true;
    counts = ReadEverything(since);
  }
  if (!counts.ok()) return counts.status();
  marks_.refresh_began = began;
  SaveIndex();
  mflsync::v1::RefreshIndexResponse response;
  response.set_mode(full ? mflsync::v1::REFRESH_MODE_FULL
                         : mflsync::v1::REFRESH_MODE_INCREMENTAL);
  response.set_facilities(static_cast<int64_t>(index_.facility_count()));
  response.set_districts(static_cast<int64_t>(index_.district_count()));
  response.set_facilities_read(counts->read);
  response.set_facilities_added(counts->added);
  response.set_facilities_changed(counts->changed);
  response.set_facilities_removed(counts->removed);
  response.set_drift(counts->drift);
  *response.mutable_loaded_at() = ToTimestamp(absl::Now());
  if (marks_.verified_at != absl::InfinitePast()) {
    *response.mutable_verified_at() = ToTimestamp(marks_.verified_at);
  }
  response.set_millis(absl::ToInt64Milliseconds(absl::Now() - start));
  return response;
}

absl::StatusOr<mflsync::v1::RefreshIndexResponse> WriterCore::Refresh(
    mflsync::v1::RefreshMode mode) {
  absl::MutexLock reload(&reload_mu_);
  RestoreIndexLocked();
  auto fail = [this](absl::Status status) {
    absl::MutexLock lock(&status_mu_);
    last_load_error_ = std::string(status.message());
    return absl::Status(status.code(), absl::StrCat("index refresh failed: ", status.message()));
  };
  if (options_.openimis.username.empty()) {
    return fail(absl::FailedPreconditionError(
        "openimis.username is not set (MFLSYNC_OPENIMIS__USERNAME): the writer cannot "
        "log in to openIMIS"));
  }
  absl::StatusOr<mflsync::v1::RefreshIndexResponse> response = RefreshLocked(WantsFull(mode));
  if (!response.ok()) return fail(response.status());
  {
    absl::MutexLock lock(&status_mu_);
    last_load_error_.clear();
  }
  LogRefresh(*response);
  return response;
}

void WriterCore::LogRefresh(const mflsync::v1::RefreshIndexResponse& r) const {
  const bool full = r.mode() == mflsync::v1::REFRESH_MODE_FULL;
  LogInfo(full ? "openIMIS index read in full" : "openIMIS index refreshed",
          {{"facilities", r.facilities()},
           {"districts", r.districts()},
           {"read", r.facilities_read()},
           {"added", r.facilities_added()},
           {"changed", r.facilities_changed()},
           {"removed", r.facilities_removed()},
           {"drift", r.drift()},
           {"millis", r.millis()}});
  if (r.drift() > 0) {
    LogWarning("the full read found drift the incremental refreshes had missed (repaired)",
               {{"drift", r.drift()},
                {"added", r.facilities_added()},
                {"changed", r.facilities_changed()},
                {"removed", r.facilities_removed()}});
  }
}

}  // namespace mflsync::writer
