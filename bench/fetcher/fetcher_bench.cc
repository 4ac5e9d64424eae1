// Fetcher benchmark (not a test): starts the MFL stand-in with N synthetic
// facilities on loopback, fetches everything through the Fetcher (directly,
// or through the gRPC FetchChanges stream in-process), and reports
// facilities/s, the fetcher's CPU time and the process's peak RSS (VmHWM).
//
//   fetcher_bench [--count 100000] [--page-size 1000] [--mode direct|grpc]
//                 [--base-url URL]   (use a running MFL instead of starting one)
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "fetcher/fetcher.h"
#include "fetcher/fetcher_module.h"
#include "mflsync/v1/fetcher.grpc.pb.h"
#include "tests/fetcher/mfl_standin.h"

namespace {

using namespace mflsync;

int64_t VmHwmKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

struct Counts {
  int64_t records = 0, facilities = 0, pages = 0, with_org = 0;
};

void Count(const v1::FetchChangesResponse& page, Counts* c) {
  ++c->pages;
  for (const v1::SourceRecord& r : page.records()) {
    ++c->records;
    if (r.location_id().rfind("fac-", 0) == 0) {
      ++c->facilities;
      c->with_org += !r.organization_json().empty();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t count = 100000;
  int page_size = 1000;
  std::string mode = "direct";
  std::string base_url;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--count") (void)absl::SimpleAtoi(v, &count);
    else if (a == "--page-size") (void)absl::SimpleAtoi(v, &page_size);
    else if (a == "--mode") mode = v;
    else if (a == "--base-url") base_url = v;
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  InitLogging("fetcher_bench", LogFormat::kText, LogLevel::kWarning);
  mflsync::testing::MflStandIn mfl;
  if (base_url.empty()) {
    absl::Time t0 = absl::Now();
    absl::Status s = mfl.Start({"--synthetic", absl::StrCat(count), "--page-size-max", "5000"},
                               absl::Seconds(600));
    if (!s.ok()) {
      std::cerr << s << "\n";
      return 1;
    }
    std::cerr << "stand-in ready with " << count << " facilities in "
              << absl::FormatDuration(absl::Now() - t0) << "\n";
    base_url = mfl.BaseUrl();
  }
  const int64_t hwm_before = VmHwmKb();
  Counts counts;
  absl::Status status;
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  int64_t requests = 0;
  if (mode == "grpc") {
    absl::StatusOr<Config> config = Config::Load(
        fetcher::FetcherSpec().schema, "",
        {{"MFLSYNC_SOURCES__BENCH__BASE_URL", base_url},
         {"MFLSYNC_SOURCES__BENCH__PAGE_SIZE", absl::StrCat(page_size)}});
    if (!config.ok()) {
      std::cerr << config.status() << "\n";
      return 1;
    }
    auto module = fetcher::CreateFetcherModule(*config);
    if (!module.ok()) {
      std::cerr << module.status() << "\n";
      return 1;
    }
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    for (grpc::Service* s : (*module)->GrpcServices()) builder.RegisterService(s);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    auto stub = v1::FetcherService::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext ctx;
    v1::FetchChangesRequest req;
    auto reader = stub->FetchChanges(&ctx, req);
    v1::FetchChangesResponse page;
    while (reader->Read(&page)) Count(page, &counts);
    grpc::Status gs = reader->Finish();
    status = absl::Status(static_cast<absl::StatusCode>(gs.error_code()), gs.error_message());
    server->Shutdown();
  } else {
    fetcher::SourceConfig source;
    source.name = "bench";
    source.base_url = base_url;
    source.page_size = page_size;
    fetcher::Fetcher f(source);
    status = f.Fetch(fetcher::FetchOptions{}, [&counts](v1::FetchChangesResponse& page) {
      Count(page, &counts);
      return true;
    });
    requests = f.stats().requests;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = CpuSeconds() - cpu0;
  if (!status.ok()) {
    std::cerr << "fetch failed: " << status << "\n";
    return 1;
  }
  std::printf(
      "{\"mode\":\"%s\",\"facilities\":%lld,\"records\":%lld,\"with_org\":%lld,"
      "\"pages\":%lld,\"requests\":%lld,\"page_size\":%d,\"seconds\":%.2f,"
      "\"facilities_per_s\":%.0f,\"records_per_s\":%.0f,\"fetcher_cpu_s\":%.2f,"
      "\"vmhwm_before_mb\":%.1f,\"vmhwm_mb\":%.1f}\n",
      mode.c_str(), static_cast<long long>(counts.facilities),
      static_cast<long long>(counts.records), static_cast<long long>(counts.with_org),
      static_cast<long long>(counts.pages), static_cast<long long>(requests), page_size,
      seconds, counts.facilities / seconds, counts.records / seconds, cpu,
      hwm_before / 1024.0, VmHwmKb() / 1024.0);
  return 0;
}
