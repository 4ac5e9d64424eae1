// The writer service's logic without gRPC: the openIMIS session and
// connection pool, the facility index (restored from its store or loaded in
// the background until openIMIS answers; refreshed on demand, incrementally
// where the API allows) and the facility writer.
#ifndef MFLSYNC_WRITER_WRITER_CORE_H_
#define MFLSYNC_WRITER_WRITER_CORE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "mflsync/v1/writer.pb.h"
#include "writer/facility_index.h"
#include "writer/facility_writer.h"
#include "writer/fhir_api.h"
#include "writer/graphql_api.h"
#include "writer/index_store.h"
#include "writer/openimis_client.h"
#include "writer/write_planner.h"

namespace mflsync::writer {

// Which openIMIS API the writer speaks (`openimis.api`).
enum class OpenImisApiKind {
  kGraphql,  // {root}/graphql: the path the released backend accepts writes on
  kFhir,     // {root}/api_fhir_r4/: the FHIR R4 module
};

// The options of `kind`'s session: its endpoint ({root}/graphql or
// {root}/api_fhir_r4) resolved against openIMIS's API root in `root`.
OpenImisOptions EndpointOptions(const OpenImisOptions& root, OpenImisApiKind kind);

struct WriterCoreOptions {
  // base_url is openIMIS's API root (".../api") or the openHIM channel that
  // proxies it; the API's endpoint is resolved against it.
  OpenImisOptions openimis;
  OpenImisApiKind api = OpenImisApiKind::kGraphql;
  GraphqlApiOptions graphql;
  FhirApiOptions fhir;
  // Writes in progress at once (openimis.connections).
  int connections = 16;
  // Told of each request the writes share on the GraphQL path, with its kind
  // ("mutations" or "outcome_polls") and how many writes it carries (e.g.
  // WriterMetrics::ObserveSharedRequest). May be empty.
  std::function<void(const char* kind, size_t writes)> on_shared_request;
  FacilityWriterOptions write;
  // `_count` of the index searches.
  int index_page_size = 100;
  // First wait between failed background loads; doubles up to 60 s.
  absl::Duration index_retry_interval = absl::Seconds(5);
  // The index store's SQLite file (index_store.h); empty: the index lives
  // in memory only, and every start reads openIMIS in full.
  std::string index_path;
  // An incremental refresh reads again what changed this long before the
  // newest change the last one saw (a write committed after a later one).
  absl::Duration index_overlap = absl::Seconds(5);
  // A refresh that names no mode reads everything when the last full read
  // is older than this (a verification: repairs and reports drift).
  absl::Duration index_verify_interval = absl::Hours(7 * 24);
};

class WriterCore {
 public:
  explicit WriterCore(WriterCoreOptions options);
  ~WriterCore();
  WriterCore(const WriterCore&) = delete;
  WriterCore& operator=(const WriterCore&) = delete;

  // Loads the index in a background thread, retrying with backoff until
  // openIMIS answers or Stop() is called.
  void StartBackgroundLoad();
  // Stops the background load (waits for an HTTP request in progress).
  void Stop();

  // The RPCs. Until the index has been loaded once, each answers
  // UNAVAILABLE with the last load error.
  absl::StatusOr<mflsync::v1::WriteFacilitiesResponse> Write(
      const mflsync::v1::WriteFacilitiesRequest& request);
  absl::StatusOr<mflsync::v1::LookupFacilitiesResponse> Lookup(
      const mflsync::v1::LookupFacilitiesRequest& request) const;
  absl::StatusOr<mflsync::v1::ListDistrictsResponse> ListDistricts() const;
  absl::StatusOr<mflsync::v1::PlanWritesResponse> Plan(
      const mflsync::v1::PlanWritesRequest& request) const;
  // Brings the index in line with openIMIS now (also before the first
  // background load ends): incrementally or in full (RefreshMode).
  absl::StatusOr<mflsync::v1::RefreshIndexResponse> Refresh(
      mflsync::v1::RefreshMode mode = mflsync::v1::REFRESH_MODE_UNSPECIFIED);

  FacilityIndex& index() { return index_; }
  // Successful logins to openIMIS so far.
  int64_t logins() const;

 private:
  // What one refresh read and changed.
  struct RefreshCounts {
    int64_t read = 0;
    int64_t added = 0;
    int64_t changed = 0;
    int64_t removed = 0;
    // An incremental read's count of current facilities in openIMIS; -1
    // when not known.
    int64_t openimis_total = -1;
    // Of added, changed and removed, what an incremental refresh could not
    // have seen (full reads of an index kept incrementally).
    int64_t drift = 0;
  };

  // Opens the store (once) and restores the index from it, when it holds
  // one of this openIMIS.
  void RestoreIndexLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  void LogRefresh(const mflsync::v1::RefreshIndexResponse& response) const;
  // One refresh (reload_mu_ held): `full` reads everything.
  absl::StatusOr<mflsync::v1::RefreshIndexResponse> RefreshLocked(bool full)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // The index is loaded and the API lists changes since its mark.
  bool CanReadChanges() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  bool WantsFull(mflsync::v1::RefreshMode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // Where an incremental read starts: the newest change seen, less the
  // overlap unless openIMIS's clock (ServerClock) shows that the previous
  // refresh began long enough after it for nothing to be in flight.
  absl::Time Since() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::StatusOr<RefreshCounts> ReadChanges(absl::Time since)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // `drift_before`: facilities added or changed before it count as drift.
  absl::StatusOr<RefreshCounts> ReadEverything(absl::Time drift_before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // Saves the index's changes and marks to the store (a failure is logged;
  // the next save rewrites the store).
  void SaveIndex() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::Status LoadIndex();
  absl::Status NotLoaded() const;
  // Which openIMIS the index is of (the store's `server` mark).
  std::string ServerIdentity() const;

  OpenImisApiFactory ApiFactory();
  // options_.on_shared_request for the batcher of `kind`, or empty.
  std::function<void(size_t)> SharedRequestObserver(const char* kind) const;

  const WriterCoreOptions options_;
  std::shared_ptr<OpenImisSession> fhir_session_;     // kFhir
  std::shared_ptr<GraphqlSession> graphql_session_;   // kGraphql
  std::shared_ptr<DistrictIds> district_ids_ = std::make_shared<DistrictIds>();
  std::shared_ptr<ServerClock> server_clock_ = std::make_shared<ServerClock>();
  // At most one ask per connection can wait at once.
  std::shared_ptr<OutcomeBatcher> outcomes_ = std::make_shared<OutcomeBatcher>(
      options_.connections, 1, SharedRequestObserver("outcome_polls"));
  std::shared_ptr<MutationBatcher> mutations_ = std::make_shared<MutationBatcher>(
      options_.graphql.mutations_per_request, options_.graphql.mutation_requests_in_flight,
      SharedRequestObserver("mutations"));
  ConnectionPool pool_;
  // Whether the API lists changes since a time (OpenImisApi::LoadChanges).
  const bool incremental_reads_;
  FacilityIndex index_;
  FacilityWriter writer_;
  WritePlanner planner_{&index_};
  // Writes hold it shared, a reload exclusively, so that a reload never
  // drops a facility written while it ran.
  absl::Mutex reload_mu_;
  std::unique_ptr<IndexStore> store_ ABSL_GUARDED_BY(reload_mu_);
  bool store_opened_ ABSL_GUARDED_BY(reload_mu_) = false;
  bool store_rewrite_ ABSL_GUARDED_BY(reload_mu_) = true;
  IndexMarks marks_ ABSL_GUARDED_BY(reload_mu_);
  mutable absl::Mutex status_mu_;
  std::string last_load_error_ ABSL_GUARDED_BY(status_mu_) =
      "the first load has not finished yet";
  absl::Notification stop_;
  std::thread loader_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_WRITER_CORE_H_
