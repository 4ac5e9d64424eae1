// The writer's index at a national size, in process: the memory it takes per
// facility, the time of a put and of the look-ups a plan makes, and the time
// to save it to its store and restore it (a restart). Not a test; figures in
// docs/benchmarks.md ("The writer's index").
//
//   index_bench [--n 100000] [--store /tmp/mflsync-index-bench.db]
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "writer/facility_index.h"
#include "writer/index_store.h"

namespace {

using mflsync::v1::HealthFacility;
using mflsync::writer::Area;
using mflsync::writer::FacilityIndex;
using mflsync::writer::IndexMarks;
using mflsync::writer::IndexStore;

constexpr int kDistricts = 300;

// Resident memory of this process, MB (/proc/self/statm).
double RssMb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// A facility with the column sizes of the Kenya MFL (name ~30 characters,
// an address, a phone, an email).
HealthFacility Synthetic(int i) {
  HealthFacility f;
  f.set_uuid(absl::StrFormat("%08x-4f1e-4c2a-9b7d-%012x", i * 2654435761u, i));
  f.set_code(absl::StrFormat("K%07d", i));
  f.set_name(absl::StrCat("Kaloleni Sub-County Dispensary ", i));
  f.set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
  f.set_care_type(mflsync::v1::CARE_TYPE_OUT_PATIENT);
  f.set_legal_form(i % 3 == 0 ? "P" : "G");
  f.set_district_uuid(absl::StrFormat("d%07d", i % kDistricts));
  f.set_address(absl::StrCat("P.O. Box ", i, " Kilifi"));
  f.set_phone("+254 700 000 000");
  f.set_email(i % 2 == 0 ? absl::StrCat("facility", i, "@health.go.ke") : "");
  f.set_active(true);
  return f;
}

std::vector<Area> Areas() {
  std::vector<Area> areas = {Area{"r0", "R0", "Region", "R", "", 1}};
  for (int d = 0; d < kDistricts; ++d) {
    areas.push_back(Area{absl::StrFormat("d%07d", d), absl::StrFormat("D%03d", d),
                         absl::StrCat("District ", d), "D", "r0", d + 2});
  }
  return areas;
}

// The store's size: its file and its write-ahead log.
double StoreMb(const std::string& path) {
  std::error_code ec;
  double bytes = 0;
  for (const std::string& file : {path, path + "-wal"}) {
    const auto size = std::filesystem::file_size(file, ec);
    if (!ec) bytes += static_cast<double>(size);
  }
  return bytes / (1 << 20);
}

double Micros(absl::Duration d, int n) { return absl::ToDoubleMicroseconds(d) / n; }

}  // namespace

int main(int argc, char** argv) {
  int n = 100000;
  std::string store_path = "/tmp/mflsync-index-bench.db";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--n" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &n) && n > 0) {
      ++i;
    } else if (arg == "--store" && i + 1 < argc) {
      store_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: index_bench [--n 100000] [--store FILE]\n");
      return 2;
    }
  }
  const double rss_before = RssMb();
  FacilityIndex index;
  index.SetAreas(Areas());
  absl::Time t = absl::Now();
  for (int i = 0; i < n; ++i) index.Put(Synthetic(i));
  const absl::Duration put = absl::Now() - t;
  index.MarkLoaded(absl::Now());
  const double rss_after = RssMb();

  t = absl::Now();
  size_t found = 0;
  for (int i = 0; i < n; ++i) {
    found += index.ByCode(absl::StrFormat("K%07d", i)).has_value();
    found += index.ByName(absl::StrCat("Kaloleni Sub-County Dispensary ", i),
                          absl::StrFormat("D%03d", i % kDistricts)).size();
  }
  const absl::Duration lookups = absl::Now() - t;

  std::filesystem::remove(store_path);
  std::filesystem::remove(store_path + "-wal");
  std::filesystem::remove(store_path + "-shm");
  auto store = IndexStore::Open(store_path);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  IndexMarks marks;
  marks.server = "graphql bench";
  t = absl::Now();
  absl::Status saved = (*store)->Save(index, marks, /*rewrite=*/true);
  const absl::Duration save = absl::Now() - t;
  FacilityIndex restored;
  t = absl::Now();
  auto got = (*store)->Restore(marks.server, restored);
  const absl::Duration restore = absl::Now() - t;
  if (!saved.ok() || !got.ok() || restored.facility_count() != index.facility_count()) {
    std::fprintf(stderr, "save or restore failed\n");
    return 1;
  }
  std::printf(
      "{\"n\": %d, \"index_mb\": %.1f, \"bytes_per_facility\": %.0f, \"put_us\": %.2f, "
      "\"lookup_us\": %.2f, \"found\": %zu, \"save_s\": %.2f, \"restore_s\": %.2f, "
      "\"store_mb\": %.1f}\n",
      n, rss_after - rss_before, (rss_after - rss_before) * (1 << 20) / n, Micros(put, n),
      Micros(lookups, 2 * n), found, absl::ToDoubleSeconds(save),
      absl::ToDoubleSeconds(restore),
      StoreMb(store_path));
  return 0;
}
