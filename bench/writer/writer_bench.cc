// Writer benchmark: creates then updates N facilities in openIMIS (the
// stand-in, started with --fast) through FacilityWriter at 1, 4 and 16
// parallel connections over the GraphQL API (default) or the FHIR R4 API,
// and prints writes/s. Not a test. Against the real openIMIS:
// writer_real_bench.
//
//   writer_bench [--n 2000] [--connections 1,4,16] [--api graphql|fhir]
//                [--no-location-check] [--mutations-per-request K]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "tests/writer/standin_process.h"
#include "writer/writer_core.h"

using mflsync::writer::WriterCore;
using mflsync::writer::WriterCoreOptions;
using mflsync::writer::testing::OpenImisStandin;

namespace {

// CPU seconds (user + system) of this process: the writer runs in it; the
// stand-in is a child process and is not counted.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Requests openIMIS answered so far (the stand-in's count).
int64_t StandinRequests(OpenImisStandin& standin) {
  const nlohmann::json stats = standin.Stats();
  return stats.value("requests_total", int64_t{0});
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  std::vector<int> connections = {1, 4, 16};
  bool check_location = true;
  bool fhir = false;
  int mutations_per_request = mflsync::writer::GraphqlApiOptions().mutations_per_request;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--n" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &n) || n <= 0) return 2;
    } else if (arg == "--connections" && i + 1 < argc) {
      connections.clear();
      for (absl::string_view part : absl::StrSplit(argv[++i], ',')) {
        int c = 0;
        if (!absl::SimpleAtoi(part, &c) || c <= 0) return 2;
        connections.push_back(c);
      }
    } else if (arg == "--api" && i + 1 < argc) {
      const std::string api = argv[++i];
      if (api != "graphql" && api != "fhir") return 2;
      fhir = api == "fhir";
    } else if (arg == "--no-location-check") {
      check_location = false;
    } else if (arg == "--mutations-per-request" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &mutations_per_request) || mutations_per_request <= 0) {
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--n N] [--connections 1,4,16] [--api graphql|fhir] "
                   "[--no-location-check] [--mutations-per-request K]\n",
                   argv[0]);
      return 2;
    }
  }
  mflsync::InitLogging("writer_bench", mflsync::LogFormat::kText, mflsync::LogLevel::kWarning);
  auto standin = OpenImisStandin::Start({"--fast"});
  if (!standin.ok()) {
    std::fprintf(stderr, "stand-in: %s\n", std::string(standin.status().message()).c_str());
    return 1;
  }
  std::printf("writer_bench: %d facilities per phase, %s API%s\n", n,
              fhir ? "FHIR R4" : "GraphQL",
              fhir ? (check_location ? ", Location view check on" : ", no view check") : "");
  std::printf("| connections | creates/s | updates/s | created | updated | other "
              "| HTTP requests/write | writer CPU ms/write |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const char* districts[] = {"D0101", "D0102", "D0201", "D0202"};
  for (int c : connections) {
    (*standin)->Reset();
    WriterCoreOptions options;
    options.openimis.base_url = (*standin)->api_root();
    options.openimis.username = "Admin";
    options.openimis.password = "admin123";
    options.connections = c;
    options.graphql.mutations_per_request = mutations_per_request;
    options.fhir.check_location_view = check_location;
    if (fhir) options.api = mflsync::writer::OpenImisApiKind::kFhir;
    WriterCore core(options);
    auto loaded = core.Refresh();
    if (!loaded.ok()) {
      std::fprintf(stderr, "index: %s\n", std::string(loaded.status().message()).c_str());
      return 1;
    }
    mflsync::v1::WriteFacilitiesRequest request;
    for (int i = 0; i < n; ++i) {
      auto* item = request.add_items();
      item->set_record_key(absl::StrCat("rec-", i));
      item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
      auto* f = item->mutable_facility();
      f->set_code(absl::StrFormat("B%06d", i));
      f->set_name(absl::StrCat("Bench Facility ", i));
      f->set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
      f->set_care_type(mflsync::v1::CARE_TYPE_BOTH);
      f->set_legal_form("G");
      f->set_district_code(districts[i % 4]);
      f->set_address("Bench road");
      f->set_phone("+254700000000");
    }
    int counts[6] = {0, 0, 0, 0, 0, 0};
    const int64_t requests_before = StandinRequests(**standin);
    const double cpu_before = ProcessCpuSeconds();
    absl::Time start = absl::Now();
    auto created = core.Write(request);
    const double create_s = absl::ToDoubleSeconds(absl::Now() - start);
    if (!created.ok()) return 1;
    for (int i = 0; i < n; ++i) {
      const auto& r = created->results(i);
      ++counts[r.outcome()];
      auto* item = request.mutable_items(i);
      item->set_action(mflsync::v1::WRITE_ACTION_UPDATE);
      item->mutable_facility()->set_uuid(r.uuid());
      item->mutable_facility()->set_name(absl::StrCat("Bench Facility ", i, " renamed"));
    }
    start = absl::Now();
    auto updated = core.Write(request);
    const double update_s = absl::ToDoubleSeconds(absl::Now() - start);
    if (!updated.ok()) return 1;
    const double cpu = ProcessCpuSeconds() - cpu_before;
    const int64_t requests = StandinRequests(**standin) - requests_before - 1;  // the stats GET
    for (const auto& r : updated->results()) ++counts[r.outcome()];
    const int other = 2 * n - counts[1] - counts[2];
    std::printf("| %d | %.0f | %.0f | %d | %d | %d | %.2f | %.3f |\n", c, n / create_s,
                n / update_s, counts[1], counts[2], other, requests / (2.0 * n),
                cpu * 1000 / (2.0 * n));
    std::fflush(stdout);
    const int held = (*standin)->Facilities().value("count", -1);
    if (held != n) {
      std::fprintf(stderr, "stand-in holds %d facilities, expected %d\n", held, n);
      return 1;
    }
  }
  return 0;
}
