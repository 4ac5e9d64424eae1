// The scheduler's view of the three peer services (fetcher, mapper,
// writer) as a small interface, so the orchestration logic can be tested
// in-process; GrpcPeers is the real implementation over gRPC stubs.
#ifndef MFLSYNC_SCHEDULER_PEERS_H_
#define MFLSYNC_SCHEDULER_PEERS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_channel.h"
#include "mflsync/v1/fetcher.grpc.pb.h"
#include "mflsync/v1/mapper.grpc.pb.h"
#include "mflsync/v1/writer.grpc.pb.h"

namespace mflsync::scheduler {

// Lets a run be cancelled from another thread: registered callbacks (e.g. a
// gRPC context's TryCancel) are called once on Cancel(), under the token's
// lock, so that after Unregister returns a callback is never running or
// called again (its context may then be destroyed safely). Callbacks must
// not call back into the token.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Registers `callback`; called at once when already cancelled. Returns an
  // id for Unregister.
  int Register(std::function<void()> callback);
  void Unregister(int id);

 private:
  mutable std::mutex mu_;
  std::atomic<bool> cancelled_{false};
  int next_id_ = 1;
  std::vector<std::pair<int, std::function<void()>>> callbacks_;
};

class Peers {
 public:
  virtual ~Peers() = default;
  virtual absl::StatusOr<v1::ListSourcesResponse> ListSources() = 0;
  // Calls `on_page` for each page in order; `on_page` returning false stops
  // the stream (the call then returns CANCELLED).
  virtual absl::Status FetchChanges(
      const v1::FetchChangesRequest& request,
      const std::function<bool(v1::FetchChangesResponse&)>& on_page,
      CancelToken& cancel) = 0;
  virtual absl::StatusOr<v1::MapFacilitiesResponse> MapFacilities(
      const v1::MapFacilitiesRequest& request, CancelToken& cancel) = 0;
  // The writer's decision per mapped record (create, update, no-op, reject).
  virtual absl::StatusOr<v1::PlanWritesResponse> PlanWrites(
      const v1::PlanWritesRequest& request, CancelToken& cancel) = 0;
  virtual absl::StatusOr<v1::RefreshIndexResponse> RefreshIndex(v1::RefreshMode mode,
                                                                CancelToken& cancel) = 0;
  virtual absl::StatusOr<v1::WriteFacilitiesResponse> WriteFacilities(
      const v1::WriteFacilitiesRequest& request, CancelToken& cancel) = 0;
};

struct GrpcPeersOptions {
  std::string fetcher_address;
  std::string mapper_address;
  std::string writer_address;
  ClientSecurity security;        // TLS and token to the peers
  absl::Duration rpc_timeout = absl::Seconds(120);   // unary calls
  absl::Duration index_timeout = absl::Minutes(10);  // RefreshIndex
};

// Peers over gRPC. Errors name the peer, the RPC and its address.
class GrpcPeers final : public Peers {
 public:
  explicit GrpcPeers(const GrpcPeersOptions& options);

  absl::StatusOr<v1::ListSourcesResponse> ListSources() override;
  absl::Status FetchChanges(const v1::FetchChangesRequest& request,
                            const std::function<bool(v1::FetchChangesResponse&)>& on_page,
                            CancelToken& cancel) override;
  absl::StatusOr<v1::MapFacilitiesResponse> MapFacilities(
      const v1::MapFacilitiesRequest& request, CancelToken& cancel) override;
  absl::StatusOr<v1::PlanWritesResponse> PlanWrites(const v1::PlanWritesRequest& request,
                                                     CancelToken& cancel) override;
  absl::StatusOr<v1::RefreshIndexResponse> RefreshIndex(v1::RefreshMode mode,
                                                        CancelToken& cancel) override;
  absl::StatusOr<v1::WriteFacilitiesResponse> WriteFacilities(
      const v1::WriteFacilitiesRequest& request, CancelToken& cancel) override;

 private:
  GrpcPeersOptions options_;
  // Kept to wait for the fetcher at the start of a fetch (see FetchChanges).
  std::shared_ptr<grpc::Channel> fetcher_channel_;
  std::unique_ptr<v1::FetcherService::Stub> fetcher_;
  std::unique_ptr<v1::MapperService::Stub> mapper_;
  std::unique_ptr<v1::WriterService::Stub> writer_;
};

}  // namespace mflsync::scheduler

#endif  // MFLSYNC_SCHEDULER_PEERS_H_
