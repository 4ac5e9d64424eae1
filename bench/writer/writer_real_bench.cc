// Writer benchmark against the real openIMIS (testbed/openimis-real): creates
// then updates N facilities through the writer (FacilityWriter over the
// GraphQL API) at each connection count, beside a raw loop of the same
// mutations at the same concurrency (mutation + mutation-log poll, nothing
// else: the limit); then, optionally, the index load time with M facilities
// in openIMIS. Not a test; results go to docs/benchmarks.md.
//
//   testbed/openimis-real/openimis-real.sh start /tmp/oi
//   writer_real_bench --openimis-env /tmp/oi/openimis.env [--n 300]
//       [--connections 1,4] [--mutations-per-request 8]
//       [--mutation-requests-in-flight 2] [--district R1D1]
//       [--index-facilities 13733] [--index-only]
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "tests/writer/real_openimis.h"
#include "writer/graphql_api.h"
#include "writer/graphql_client.h"
#include "writer/writer_core.h"

namespace {

using mflsync::v1::HealthFacility;
using mflsync::writer::GraphqlClient;
using mflsync::writer::GraphqlSession;
using mflsync::writer::WriterCore;
using mflsync::writer::WriterCoreOptions;
using nlohmann::json;

using Server = mflsync::writer::testing::RealOpenImis;

// --mutations-per-request and --mutation-requests-in-flight (the writer's
// openimis.* settings of those names; their defaults otherwise).
mflsync::writer::GraphqlApiOptions graphql_options;

WriterCoreOptions Options(const Server& server, int connections) {
  WriterCoreOptions options;
  options.graphql = graphql_options;
  options.openimis.base_url = server.api_root;
  options.openimis.username = server.user;
  options.openimis.password = server.password;
  options.connections = connections;
  return options;
}

// The raw loop's session: straight to the GraphQL endpoint.
mflsync::writer::OpenImisOptions GraphqlOptions(const Server& server) {
  mflsync::writer::OpenImisOptions options;
  options.base_url = server.api_root + "/graphql";
  options.username = server.user;
  options.password = server.password;
  return options;
}

HealthFacility Facility(const std::string& prefix, int i, const std::string& district) {
  HealthFacility f;
  f.set_code(absl::StrFormat("%s%05d", prefix, i));
  f.set_name(absl::StrCat("Bench Facility ", prefix, " ", i));
  f.set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
  f.set_care_type(mflsync::v1::CARE_TYPE_BOTH);
  f.set_legal_form("G");
  f.set_district_code(district);
  f.set_address("Bench road");
  f.set_phone("+254700000000");
  f.set_active(true);
  return f;
}

// Creates (uuid empty) or updates every facility through the writer;
// returns writes/s, counting outcomes into `ok`.
double WriterPhase(WriterCore& core, std::vector<HealthFacility>& facilities, bool update,
                   int* ok) {
  mflsync::v1::WriteFacilitiesRequest request;
  for (const HealthFacility& f : facilities) {
    auto* item = request.add_items();
    item->set_record_key(f.code());
    item->set_action(update ? mflsync::v1::WRITE_ACTION_UPDATE : mflsync::v1::WRITE_ACTION_CREATE);
    *item->mutable_facility() = f;
  }
  const absl::Time start = absl::Now();
  auto response = core.Write(request);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  *ok = 0;
  if (!response.ok()) return 0;
  for (int i = 0; i < response->results_size(); ++i) {
    const auto& r = response->results(i);
    const auto want = update ? mflsync::v1::WRITE_OUTCOME_UPDATED : mflsync::v1::WRITE_OUTCOME_CREATED;
    if (r.outcome() == want) ++*ok;
    facilities[i].set_uuid(r.uuid());
  }
  return facilities.size() / seconds;
}

// The raw loop: `connections` threads each sending its share of the
// mutations and polling each one's log to a final status.
double RawPhase(const Server& server, const std::vector<HealthFacility>& facilities,
                int64_t district_id, bool update, int connections, int* ok) {
  auto session = std::make_shared<GraphqlSession>(GraphqlOptions(server));
  std::atomic<size_t> next{0};
  std::atomic<int> good{0};
  const char* field = update ? "updateHealthFacility" : "createHealthFacility";
  const std::string document = absl::StrCat(
      "mutation m($input: ", update ? "Update" : "Create", "HealthFacilityMutationInput!) { ",
      field, "(input: $input) { clientMutationId } }");
  auto work = [&] {
    GraphqlClient client(session);
    for (size_t i = next++; i < facilities.size(); i = next++) {
      const std::string id = absl::StrCat("raw-", field, "-", facilities[i].code());
      json input = mflsync::writer::FacilityInput(facilities[i], district_id);
      input["clientMutationId"] = id;
      if (!client.Execute("raw", document, json{{"input", input}}).ok()) continue;
      for (int poll = 0; poll < 200; ++poll) {
        auto log = client.Execute(
            "raw poll", "query p($id: String!) { mutationLogs(clientMutationId: $id) { edges { node { status } } } }",
            json{{"id", id}});
        if (!log.ok()) break;
        const json& edges = (*log)["mutationLogs"]["edges"];
        const int status = edges.empty() ? 0 : edges[0]["node"].value("status", 0);
        if (status == 2) ++good;
        if (status != 0) break;
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
  };
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  *ok = good;
  return facilities.size() / absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string env;
  int n = 300;
  int index_facilities = 0;
  std::vector<int> connections = {1, 4};
  bool index_only = false;
  std::string district = "R1D1";  // openIMIS's demo data has it
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--openimis-env" && i + 1 < argc) {
      env = argv[++i];
    } else if (arg == "--n" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &n) || n <= 0) return 2;
    } else if (arg == "--index-facilities" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &index_facilities) || index_facilities < 0) return 2;
    } else if (arg == "--mutations-per-request" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &graphql_options.mutations_per_request) ||
          graphql_options.mutations_per_request <= 0) {
        return 2;
      }
    } else if (arg == "--mutation-requests-in-flight" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &graphql_options.mutation_requests_in_flight) ||
          graphql_options.mutation_requests_in_flight <= 0) {
        return 2;
      }
    } else if (arg == "--district" && i + 1 < argc) {
      district = argv[++i];
    } else if (arg == "--index-only") {
      index_only = true;
    } else if (arg == "--connections" && i + 1 < argc) {
      connections.clear();
      for (absl::string_view part : absl::StrSplit(argv[++i], ',')) {
        int c = 0;
        if (!absl::SimpleAtoi(part, &c) || c <= 0) return 2;
        connections.push_back(c);
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s --openimis-env FILE [--n N] [--connections 1,4] "
                   "[--mutations-per-request K] [--mutation-requests-in-flight L] "
                   "[--district CODE] "
                   "[--index-facilities M] [--index-only]\n",
                   argv[0]);
      return 2;
    }
  }
  absl::StatusOr<Server> read = Server::FromFile(env);
  if (env.empty() || !read.ok()) {
    std::fprintf(stderr, "writer_real_bench: --openimis-env names no openimis.env "
                         "(testbed/openimis-real/openimis-real.sh start DIR writes one)\n");
    return 2;
  }
  const Server server = *read;
  mflsync::InitLogging("writer_real_bench", mflsync::LogFormat::kText,
                       mflsync::LogLevel::kWarning);
  WriterCore probe(Options(server, 1));
  if (!probe.Refresh().ok() || !probe.index().DistrictByCode(district).has_value()) {
    std::fprintf(stderr, "writer_real_bench: cannot load the index or find district %s\n",
                 district.c_str());
    return 1;
  }
  const std::string district_uuid = probe.index().DistrictByCode(district)->uuid();
  int64_t district_id = 0;
  {
    GraphqlClient client(std::make_shared<GraphqlSession>(GraphqlOptions(server)));
    auto data = client.Execute("district id",
                               "query d($u: String!) { locations(uuid: $u) { edges { node { id } } } }",
                               json{{"u", district_uuid}});
    if (!data.ok()) return 1;
    district_id = *mflsync::writer::RelayNumericId(
        (*data)["locations"]["edges"][0]["node"]["id"].get<std::string>());
  }
  std::printf("writer_real_bench: %d facilities per phase against %s\n", n,
              server.api_root.c_str());
  std::printf("| connections | writer creates/s | raw creates/s | writer/raw | writer updates/s "
              "| raw updates/s | writer/raw | ok (w c/u, raw c/u) |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---|\n");
  int round = 0;
  if (index_only) connections.clear();
  // A letter per invocation, so that codes never repeat across runs on one
  // server (3 characters + 5 digits = openIMIS's 8).
  const std::string run(1, static_cast<char>('A' + absl::ToUnixSeconds(absl::Now()) % 26));
  for (int c : connections) {
    ++round;
    std::vector<HealthFacility> via_writer, raw;
    for (int i = 0; i < n; ++i) {
      via_writer.push_back(Facility(absl::StrCat(run, "W", round), i, district));
      HealthFacility f = Facility(absl::StrCat(run, "X", round), i, district);
      f.set_district_uuid(district_uuid);
      raw.push_back(f);
    }
    WriterCore core(Options(server, c));
    if (!core.Refresh().ok()) return 1;
    int wc = 0, wu = 0, rc = 0, ru = 0;
    const double w_create = WriterPhase(core, via_writer, false, &wc);
    const double r_create = RawPhase(server, raw, district_id, false, c, &rc);
    for (HealthFacility& f : via_writer) f.set_name(f.name() + " renamed");
    const double w_update = WriterPhase(core, via_writer, true, &wu);
    // The raw updates need the uuids openIMIS gave the raw creates.
    WriterCore reader(Options(server, 1));
    if (!reader.Refresh().ok()) return 1;
    for (HealthFacility& f : raw) {
      auto held = reader.index().ByCode(f.code());
      if (held.has_value()) f.set_uuid(held->uuid());
      f.set_name(f.name() + " renamed");
    }
    const double r_update = RawPhase(server, raw, district_id, true, c, &ru);
    std::printf("| %d | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.0f%% | %d/%d, %d/%d |\n", c,
                w_create, r_create, 100 * w_create / r_create, w_update, r_update,
                100 * w_update / r_update, wc, wu, rc, ru);
    std::fflush(stdout);
  }
  if (index_facilities > 0) {
    // Fill openIMIS up to M facilities (4 connections), then time a load.
    const int have = static_cast<int>(probe.index().facility_count()) +
                     (index_only ? 0 : 2 * n * static_cast<int>(connections.size()));
    std::vector<HealthFacility> fill;
    for (int i = 0; i < index_facilities - have; ++i) fill.push_back(Facility("Y", i, district));
    WriterCore filler(Options(server, 4));
    if (!filler.Refresh().ok()) return 1;
    int filled = 0;
    if (!fill.empty()) WriterPhase(filler, fill, false, &filled);
    WriterCore loader(Options(server, 1));
    const absl::Time start = absl::Now();
    auto loaded = loader.Refresh();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (!loaded.ok()) return 1;
    std::printf("\nindex load: %lld facilities, %lld districts in %.1f s (%.0f facilities/s)\n",
                static_cast<long long>(loaded->facilities()),
                static_cast<long long>(loaded->districts()), seconds,
                loaded->facilities() / seconds);
  }
  return 0;
}
