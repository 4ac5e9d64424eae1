// The scheduler's state database at a national size, in process: the CPU
// and wall time per record of what a sync batch asks of it, in the order
// the orchestrator asks (mark the batch in flight, read the newest versions
// and links of its Locations, commit its outcomes with the watermark), over
// a full sync of N new facilities then an incremental run of changes to
// facilities it already holds. Not a test; figures in docs/benchmarks.md
// ("The scheduler's state database").
//
//   state_store_bench [--n 100000] [--batch 100] [--db /tmp/mflsync-state-bench.db]
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "scheduler/state_store.h"

namespace {

using mflsync::scheduler::JournalState;
using mflsync::scheduler::RecordOutcome;
using mflsync::scheduler::StateStore;

constexpr char kSource[] = "demo";

// CPU seconds of this process (user + system).
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Location `i` at `version`, updated at `t`.
mflsync::v1::SourceRecord Record(int i, int version, absl::Time t) {
  mflsync::v1::SourceRecord r;
  r.set_location_id(absl::StrFormat("fac-%06d", i));
  r.set_version_id(absl::StrCat(version));
  *r.mutable_last_updated() = mflsync::ToTimestamp(t);
  return r;
}

// The change history entry of writing `r`.
mflsync::v1::FacilityChange Change(const mflsync::v1::SourceRecord& r, const std::string& run_id,
                                   bool create) {
  mflsync::v1::FacilityChange c;
  c.set_run_id(run_id);
  c.set_source_id(kSource);
  c.set_trigger(mflsync::v1::RUN_TRIGGER_SCHEDULE);
  mflsync::v1::PlanEntry* e = c.mutable_entry();
  e->set_location_id(r.location_id());
  e->set_version_id(r.version_id());
  *e->mutable_last_updated() = r.last_updated();
  e->set_action(create ? mflsync::v1::PLAN_ACTION_CREATE : mflsync::v1::PLAN_ACTION_UPDATE);
  e->set_code(absl::StrCat("K", r.location_id().substr(4)));
  e->set_uuid(absl::StrFormat("%08x-4f1e-4c2a-9b7d-%012x",
                              std::hash<std::string>()(r.location_id()) & 0xffffffff, 7));
  e->set_name(absl::StrCat("Kaloleni Dispensary ", r.location_id().substr(4)));
  // The fields of a create as the scheduler records them (about 320 bytes
  // serialised, as in the e2e benchmark's state database); an update
  // changes the name.
  const std::pair<const char*, std::string> fields[] = {
      {"code", e->code()}, {"name", e->name()}, {"level", "D"}, {"care_type", "O"},
      {"legal_form", "G"}, {"district", "Kilifi"}, {"address", "P.O. Box 12 Kilifi"},
      {"phone", "+254 700 000 000"}, {"status", "active"}};
  for (const auto& [field, value] : fields) {
    if (!create && std::string(field) != "name") continue;
    mflsync::v1::FieldChange* fc = e->add_changes();
    fc->set_field(field);
    if (!create) fc->set_old_value(value);
    fc->set_new_value(create ? value : value + " (bench)");
  }
  return c;
}

struct Phase {
  double cpu_in_flight = 0, cpu_lookups = 0, cpu_commit = 0;
  absl::Duration wall;
  int records = 0;
};

// One batch, as Orchestrator::Pipeline runs it against the store.
bool RunBatch(StateStore& store, const std::string& run_id,
              const std::vector<mflsync::v1::SourceRecord>& batch, bool create, Phase& p) {
  double t0 = CpuSeconds();
  absl::Status s = store.JournalInFlight(kSource, run_id, batch, absl::Now());
  double t1 = CpuSeconds();
  std::vector<std::string> ids;
  for (const auto& r : batch) ids.push_back(r.location_id());
  auto versions = store.NewestVersions(kSource, ids);
  auto links = store.PlanLinks(kSource, ids);
  double t2 = CpuSeconds();
  std::vector<RecordOutcome> outcomes;
  for (const auto& r : batch) {
    RecordOutcome o;
    o.record = r;
    o.state = JournalState::kWritten;
    o.change = Change(r, run_id, create);
    outcomes.push_back(std::move(o));
  }
  const absl::Time watermark = mflsync::FromTimestamp(batch.front().last_updated());
  if (s.ok()) s = store.CommitBatch(kSource, run_id, outcomes, watermark, absl::Now());
  double t3 = CpuSeconds();
  if (!s.ok() || !versions.ok() || !links.ok()) {
    std::fprintf(stderr, "batch failed: %s %s %s\n", std::string(s.message()).c_str(),
                 std::string(versions.status().message()).c_str(),
                 std::string(links.status().message()).c_str());
    return false;
  }
  p.cpu_in_flight += t1 - t0;
  p.cpu_lookups += t2 - t1;
  p.cpu_commit += t3 - t2;
  p.records += static_cast<int>(batch.size());
  return true;
}

// Writes `ids` (in that order) at `version`, `batch` records at a time.
bool RunPhase(StateStore& store, const std::vector<int>& ids, int version, int batch,
              bool create, absl::Time* clock, Phase& p) {
  absl::StatusOr<mflsync::v1::Run> run =
      store.CreateRun(kSource, mflsync::v1::RUN_TRIGGER_SCHEDULE, false, std::nullopt,
                      absl::Now());
  if (!run.ok()) return false;
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < ids.size(); i += batch) {
    std::vector<mflsync::v1::SourceRecord> records;
    for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
      *clock += absl::Milliseconds(1);
      records.push_back(Record(ids[j], version, *clock));
    }
    if (!RunBatch(store, run->run_id(), records, create, p)) return false;
  }
  p.wall = absl::Now() - start;
  return true;
}

void Print(const char* label, const Phase& p) {
  const double n = std::max(1, p.records);
  std::printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", label, p.records,
              1e6 * p.cpu_in_flight / n, 1e6 * p.cpu_lookups / n, 1e6 * p.cpu_commit / n,
              1e6 * (p.cpu_in_flight + p.cpu_lookups + p.cpu_commit) / n,
              1e6 * absl::ToDoubleSeconds(p.wall) / n);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100000, batch = 100, changes = 1000;
  std::string db = "/tmp/mflsync-state-bench.db";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--n") (void)absl::SimpleAtoi(argv[i + 1], &n);
    if (flag == "--batch") (void)absl::SimpleAtoi(argv[i + 1], &batch);
    if (flag == "--changes") (void)absl::SimpleAtoi(argv[i + 1], &changes);
    if (flag == "--db") db = argv[i + 1];
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  absl::StatusOr<std::unique_ptr<StateStore>> store =
      StateStore::Open(db, mflsync::scheduler::RetryPolicy{});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  // The MFL pages by lastUpdated, which has no relation to the Location ids.
  std::vector<int> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = i;
  std::shuffle(ids.begin(), ids.end(), std::mt19937(8));
  absl::Time clock = absl::FromUnixSeconds(1700000000);
  std::printf("state_store_bench: n=%d batch=%d changes=%d db=%s\n\n", n, batch, changes,
              db.c_str());
  std::printf(
      "| phase | records | in flight µs | look-ups µs | commit µs | CPU µs per record |"
      " wall µs per record |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  Phase full, last_tenth, incremental;
  const int tenth = n - n / 10;
  std::vector<int> first(ids.begin(), ids.begin() + tenth), rest(ids.begin() + tenth, ids.end());
  if (!RunPhase(**store, first, 1, batch, true, &clock, full)) return 1;
  if (!RunPhase(**store, rest, 1, batch, true, &clock, last_tenth)) return 1;
  Phase all = full;
  all.records += last_tenth.records;
  all.cpu_in_flight += last_tenth.cpu_in_flight;
  all.cpu_lookups += last_tenth.cpu_lookups;
  all.cpu_commit += last_tenth.cpu_commit;
  all.wall += last_tenth.wall;
  std::vector<int> touched(ids.begin(), ids.begin() + std::min(changes, n));
  std::shuffle(touched.begin(), touched.end(), std::mt19937(9));
  if (!RunPhase(**store, touched, 2, batch, false, &clock, incremental)) return 1;
  Print("full sync, all", all);
  Print("full sync, last tenth", last_tenth);
  Print("incremental", incremental);
  std::printf("\nstate file: %.1f MB\n",
              static_cast<double>(std::filesystem::file_size(db)) / (1 << 20));
  return 0;
}
