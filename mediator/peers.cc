#include "mediator/peers.h"

#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_channel.h"
#include "common/status_util.h"

namespace mflsync::mediator {
namespace {

class GrpcPeers final : public SuitePeers {
 public:
  explicit GrpcPeers(const GrpcPeersOptions& o)
      : options_(o),
        mapper_(v1::MapperService::NewStub(MakeChannel(o.mapper_address, o.security))),
        writer_(v1::WriterService::NewStub(MakeChannel(o.writer_address, o.security))),
        scheduler_(
            v1::SchedulerService::NewStub(MakeChannel(o.scheduler_address, o.security))) {}

  absl::StatusOr<v1::MapFacilitiesResponse> Map(const v1::MapFacilitiesRequest& r) override {
    return Unary<v1::MapFacilitiesResponse>("mapper", options_.mapper_address, "MapFacilities",
                                            [&](grpc::ClientContext* c, auto* out) {
                                              return mapper_->MapFacilities(c, r, out);
                                            });
  }
  absl::StatusOr<v1::LookupFacilitiesResponse> Lookup(
      const v1::LookupFacilitiesRequest& r) override {
    return Unary<v1::LookupFacilitiesResponse>(
        "writer", options_.writer_address, "LookupFacilities",
        [&](grpc::ClientContext* c, auto* out) { return writer_->LookupFacilities(c, r, out); });
  }
  absl::StatusOr<v1::ListDistrictsResponse> ListDistricts() override {
    v1::ListDistrictsRequest r;
    return Unary<v1::ListDistrictsResponse>(
        "writer", options_.writer_address, "ListDistricts",
        [&](grpc::ClientContext* c, auto* out) { return writer_->ListDistricts(c, r, out); });
  }
  absl::StatusOr<v1::ReconcileFacilitiesResponse> Reconcile(
      const v1::ReconcileFacilitiesRequest& r) override {
    return Unary<v1::ReconcileFacilitiesResponse>(
        "mapper", options_.mapper_address, "ReconcileFacilities",
        [&](grpc::ClientContext* c, auto* out) {
          return mapper_->ReconcileFacilities(c, r, out);
        });
  }
  absl::StatusOr<v1::WriteFacilitiesResponse> Write(
      const v1::WriteFacilitiesRequest& r) override {
    return Unary<v1::WriteFacilitiesResponse>(
        "writer", options_.writer_address, "WriteFacilities",
        [&](grpc::ClientContext* c, auto* out) { return writer_->WriteFacilities(c, r, out); });
  }
  absl::StatusOr<v1::TriggerSyncResponse> TriggerSync(
      const v1::TriggerSyncRequest& r) override {
    return Unary<v1::TriggerSyncResponse>(
        "scheduler", options_.scheduler_address, "TriggerSync",
        [&](grpc::ClientContext* c, auto* out) { return scheduler_->TriggerSync(c, r, out); });
  }
  absl::StatusOr<v1::ListFailuresResponse> ListFailures(
      const v1::ListFailuresRequest& r) override {
    return Unary<v1::ListFailuresResponse>(
        "scheduler", options_.scheduler_address, "ListFailures",
        [&](grpc::ClientContext* c, auto* out) { return scheduler_->ListFailures(c, r, out); });
  }
  absl::StatusOr<v1::Run> WatchRun(const std::string& run_id,
                                   const std::function<void(const v1::Run&)>& on_update) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.watch_timeout));
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return absl::CancelledError("the mediator is stopping");
      watches_.insert(&context);
    }
    struct Unregister {
      GrpcPeers* self;
      grpc::ClientContext* context;
      ~Unregister() {
        absl::MutexLock lock(&self->mu_);
        self->watches_.erase(context);
      }
    } unregister{this, &context};
    v1::WatchRunRequest request;
    request.set_run_id(run_id);
    std::unique_ptr<grpc::ClientReader<v1::WatchRunResponse>> reader =
        scheduler_->WatchRun(&context, request);
    v1::WatchRunResponse update;
    v1::Run last;
    bool any = false;
    while (reader->Read(&update)) {
      last = update.run();
      any = true;
      on_update(last);
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return Annotate("scheduler", options_.scheduler_address, "WatchRun", status);
    if (!any)
      return absl::UnavailableError(absl::StrCat("scheduler at ", options_.scheduler_address,
                                                 ": WatchRun ended without an update"));
    return last;
  }

  void CancelWatches() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    for (grpc::ClientContext* c : watches_) c->TryCancel();
  }

 private:
  static absl::Status Annotate(const char* peer, const std::string& address, const char* rpc,
                               const grpc::Status& status) {
    absl::Status s = FromGrpcStatus(status);
    return absl::Status(s.code(),
                        absl::StrCat(peer, " at ", address, ": ", rpc, ": ", s.message()));
  }

  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(const char* peer, const std::string& address, const char* rpc,
                                 Call call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.rpc_timeout));
    Response response;
    grpc::Status status = call(&context, &response);
    if (!status.ok()) return Annotate(peer, address, rpc, status);
    return response;
  }

  GrpcPeersOptions options_;
  absl::Mutex mu_;
  std::set<grpc::ClientContext*> watches_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<v1::MapperService::Stub> mapper_;
  std::unique_ptr<v1::WriterService::Stub> writer_;
  std::unique_ptr<v1::SchedulerService::Stub> scheduler_;
};

}  // namespace

std::unique_ptr<SuitePeers> MakeGrpcPeers(const GrpcPeersOptions& options) {
  return std::make_unique<GrpcPeers>(options);
}

}  // namespace mflsync::mediator
