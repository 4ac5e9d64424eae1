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
        scheduler_(
            v1::SchedulerService::NewStub(MakeChannel(o.scheduler_address, o.security))) {}

  absl::StatusOr<v1::PushRecordsResponse> PushRecords(
      const v1::PushRecordsRequest& r) override {
    return Unary<v1::PushRecordsResponse>(
        "scheduler", options_.scheduler_address, "PushRecords",
        [&](grpc::ClientContext* c, auto* out) { return scheduler_->PushRecords(c, r, out); });
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
  std::unique_ptr<v1::SchedulerService::Stub> scheduler_;
};

}  // namespace

std::unique_ptr<SuitePeers> MakeGrpcPeers(const GrpcPeersOptions& options) {
  return std::make_unique<GrpcPeers>(options);
}

}  // namespace mflsync::mediator
