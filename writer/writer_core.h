// The writer service's logic without gRPC: the openIMIS session and
// connection pool, the facility index (loaded in the background until
// openIMIS answers, refreshed on demand) and the facility writer.
#ifndef MFLSYNC_WRITER_WRITER_CORE_H_
#define MFLSYNC_WRITER_WRITER_CORE_H_

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
  // Parallel keep-alive connections to openIMIS.
  int connections = 4;
  FacilityWriterOptions write;
  // `_count` of the index searches.
  int index_page_size = 100;
  // First wait between failed background loads; doubles up to 60 s.
  absl::Duration index_retry_interval = absl::Seconds(5);
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
  // Reloads the index now (also before the first background load ends).
  absl::StatusOr<mflsync::v1::RefreshIndexResponse> Refresh();

  FacilityIndex& index() { return index_; }
  // Successful logins to openIMIS so far.
  int64_t logins() const;

 private:
  absl::Status LoadIndex();
  absl::Status NotLoaded() const;

  OpenImisApiFactory ApiFactory();

  const WriterCoreOptions options_;
  std::shared_ptr<OpenImisSession> fhir_session_;     // kFhir
  std::shared_ptr<GraphqlSession> graphql_session_;   // kGraphql
  std::shared_ptr<DistrictIds> district_ids_ = std::make_shared<DistrictIds>();
  ConnectionPool pool_;
  FacilityIndex index_;
  FacilityWriter writer_;
  WritePlanner planner_{&index_};
  // Writes hold it shared, a reload exclusively, so that a reload never
  // drops a facility written while it ran.
  absl::Mutex reload_mu_;
  mutable absl::Mutex status_mu_;
  std::string last_load_error_ ABSL_GUARDED_BY(status_mu_) =
      "the first load has not finished yet";
  absl::Notification stop_;
  std::thread loader_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_WRITER_CORE_H_
