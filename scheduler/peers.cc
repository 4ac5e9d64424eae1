#include "scheduler/peers.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/grpc_channel.h"
#include "common/status_util.h"

namespace mflsync::scheduler {

void CancelToken::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_.exchange(true)) return;
  for (auto& [id, cb] : callbacks_) cb();
}

int CancelToken::Register(std::function<void()> callback) {
  std::unique_lock<std::mutex> lock(mu_);
  int id = next_id_++;
  if (cancelled_.load()) {
    lock.unlock();
    callback();
    return id;
  }
  callbacks_.emplace_back(id, std::move(callback));
  return id;
}

void CancelToken::Unregister(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
    if (it->first == id) {
      callbacks_.erase(it);
      return;
    }
  }
}

namespace {

// Registers a context's TryCancel for the duration of one call.
class CancelScope {
 public:
  CancelScope(CancelToken& token, grpc::ClientContext& ctx)
      : token_(token), id_(token.Register([&ctx] { ctx.TryCancel(); })) {}
  ~CancelScope() { token_.Unregister(id_); }

 private:
  CancelToken& token_;
  int id_;
};

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

absl::Status PeerError(const grpc::Status& s, const char* peer, const char* rpc,
                       const std::string& address) {
  absl::Status st = FromGrpcStatus(s);
  return absl::Status(st.code(), absl::StrCat(peer, " ", rpc, " at ", address,
                                              " failed: ", st.message()));
}

template <typename Stub, typename Req, typename Resp, typename Method>
absl::StatusOr<Resp> Unary(Stub* stub, Method method, const Req& req, CancelToken& cancel,
                           absl::Duration timeout, const char* peer, const char* rpc,
                           const std::string& address) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  CancelScope scope(cancel, ctx);
  Resp resp;
  grpc::Status s = (stub->*method)(&ctx, req, &resp);
  if (!s.ok()) return PeerError(s, peer, rpc, address);
  return resp;
}

}  // namespace

GrpcPeers::GrpcPeers(const GrpcPeersOptions& options)
    : options_(options),
      fetcher_channel_(MakeChannel(options.fetcher_address, options.security)),
      fetcher_(v1::FetcherService::NewStub(fetcher_channel_)),
      mapper_(v1::MapperService::NewStub(
          MakeChannel(options.mapper_address, options.security))),
      writer_(v1::WriterService::NewStub(
          MakeChannel(options.writer_address, options.security))) {}

absl::StatusOr<v1::ListSourcesResponse> GrpcPeers::ListSources() {
  CancelToken never;
  return Unary<v1::FetcherService::Stub, v1::ListSourcesRequest, v1::ListSourcesResponse>(
      fetcher_.get(), &v1::FetcherService::Stub::ListSources, v1::ListSourcesRequest(),
      never, absl::Seconds(10), "fetcher", "ListSources", options_.fetcher_address);
}

absl::Status GrpcPeers::FetchChanges(
    const v1::FetchChangesRequest& request,
    const std::function<bool(v1::FetchChangesResponse&)>& on_page, CancelToken& cancel) {
  // A fetcher that started moments ago may still be in the channel's
  // reconnect backoff (the call would fail at once): give it a few seconds.
  fetcher_channel_->WaitForConnected(std::chrono::system_clock::now() +
                                     std::chrono::seconds(5));
  grpc::ClientContext ctx;
  CancelScope scope(cancel, ctx);
  std::unique_ptr<grpc::ClientReader<v1::FetchChangesResponse>> reader =
      fetcher_->FetchChanges(&ctx, request);
  v1::FetchChangesResponse page;
  bool stopped = false;
  while (reader->Read(&page)) {
    if (!on_page(page)) {
      stopped = true;
      ctx.TryCancel();
      break;
    }
  }
  if (stopped) {
    while (reader->Read(&page)) {
    }
  }
  grpc::Status s = reader->Finish();
  if (stopped || cancel.cancelled()) return absl::CancelledError("the fetch was stopped");
  if (!s.ok()) return PeerError(s, "fetcher", "FetchChanges", options_.fetcher_address);
  return absl::OkStatus();
}

absl::StatusOr<v1::MapFacilitiesResponse> GrpcPeers::MapFacilities(
    const v1::MapFacilitiesRequest& request, CancelToken& cancel) {
  return Unary<v1::MapperService::Stub, v1::MapFacilitiesRequest, v1::MapFacilitiesResponse>(
      mapper_.get(), &v1::MapperService::Stub::MapFacilities, request, cancel,
      options_.rpc_timeout, "mapper", "MapFacilities", options_.mapper_address);
}

absl::StatusOr<v1::PlanWritesResponse> GrpcPeers::PlanWrites(
    const v1::PlanWritesRequest& request, CancelToken& cancel) {
  return Unary<v1::WriterService::Stub, v1::PlanWritesRequest, v1::PlanWritesResponse>(
      writer_.get(), &v1::WriterService::Stub::PlanWrites, request, cancel,
      options_.rpc_timeout, "writer", "PlanWrites", options_.writer_address);
}

absl::StatusOr<v1::RefreshIndexResponse> GrpcPeers::RefreshIndex(v1::RefreshMode mode,
                                                                 CancelToken& cancel) {
  v1::RefreshIndexRequest request;
  request.set_mode(mode);
  return Unary<v1::WriterService::Stub, v1::RefreshIndexRequest, v1::RefreshIndexResponse>(
      writer_.get(), &v1::WriterService::Stub::RefreshIndex, request,
      cancel, options_.index_timeout, "writer", "RefreshIndex", options_.writer_address);
}

absl::StatusOr<v1::WriteFacilitiesResponse> GrpcPeers::WriteFacilities(
    const v1::WriteFacilitiesRequest& request, CancelToken& cancel) {
  return Unary<v1::WriterService::Stub, v1::WriteFacilitiesRequest,
               v1::WriteFacilitiesResponse>(
      writer_.get(), &v1::WriterService::Stub::WriteFacilities, request, cancel,
      options_.rpc_timeout, "writer", "WriteFacilities", options_.writer_address);
}

}  // namespace mflsync::scheduler
