// IndexStore: the writer's index saved to SQLite and restored, change by
// change; a store of another openIMIS is not used.
#include "writer/index_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/sqlite.h"
#include "tests/support/child_process.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;

constexpr char kServer[] = "graphql http://127.0.0.1:8082/api";

HealthFacility Fac(const std::string& uuid, const std::string& code, const std::string& name) {
  HealthFacility f;
  f.set_uuid(uuid);
  f.set_code(code);
  f.set_name(name);
  f.set_level(mflsync::v1::FACILITY_LEVEL_HEALTH_CENTRE);
  f.set_care_type(mflsync::v1::CARE_TYPE_BOTH);
  f.set_legal_form("P");
  f.set_district_uuid("d1");
  f.set_address("Road 1");
  f.set_phone("+254 2");
  f.set_fax("+254 3");
  f.set_email("x@y.z");
  f.set_active(true);
  return f;
}

class IndexStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> dir = testing::MakeTempDir("index-store");
    ASSERT_TRUE(dir.ok()) << dir.status();
    path_ = *dir + "/index.db";
  }

  std::unique_ptr<IndexStore> Open() {
    absl::StatusOr<std::unique_ptr<IndexStore>> store = IndexStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static void Fill(FacilityIndex& index) {
    index.SetAreas({Area{"r1", "R1", "Region", "R", "", 1},
                    Area{"d1", "D1", "District", "D", "r1", 2}});
    index.Put(Fac("u1", "HF1", "One"));
    index.Put(Fac("u2", "HF2", "Two"));
    index.MarkLoaded(absl::Now());
  }

  std::string path_;
};

TEST_F(IndexStoreTest, ARestoreGivesBackWhatWasSavedWithItsMarks) {
  IndexMarks marks;
  marks.server = kServer;
  marks.high_water = absl::FromUnixMicros(1767225600123456);
  marks.verified_at = absl::FromUnixSeconds(1767225000);
  {
    FacilityIndex index;
    Fill(index);
    ASSERT_TRUE(Open()->Save(index, marks, /*rewrite=*/true).ok());
  }
  FacilityIndex restored;
  absl::StatusOr<std::optional<IndexMarks>> got = Open()->Restore(kServer, restored);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->high_water, marks.high_water);
  EXPECT_EQ((*got)->verified_at, marks.verified_at);
  EXPECT_TRUE(restored.loaded());
  EXPECT_EQ(restored.facility_count(), 2u);
  EXPECT_EQ(restored.ByCode("HF1")->DebugString(), [] {
    HealthFacility f = Fac("u1", "HF1", "One");
    f.set_district_code("D1");
    return f.DebugString();
  }());
  EXPECT_EQ(restored.DistrictByCode("D1")->region_code(), "R1");
  // Nothing restored counts as a change to save again.
  int changes = 0;
  restored.DrainChanges([&](const HealthFacility&) { ++changes; },
                        [&](const std::string&) { ++changes; });
  EXPECT_EQ(changes, 0);
}

TEST_F(IndexStoreTest, ASaveWritesOnlyTheChangesAndTheRemovals) {
  FacilityIndex index;
  Fill(index);
  std::unique_ptr<IndexStore> store = Open();
  IndexMarks marks;
  marks.server = kServer;
  ASSERT_TRUE(store->Save(index, marks, /*rewrite=*/true).ok());
  index.Put(Fac("u2", "HF2", "Two renamed"));
  index.Put(Fac("u3", "HF3", "Three"));
  index.BeginSweep();
  index.Put(*index.ByUuid("u2"));
  index.Put(*index.ByUuid("u3"));
  index.EndSweep();  // u1 gone
  ASSERT_TRUE(store->Save(index, marks, /*rewrite=*/false).ok());
  FacilityIndex restored;
  ASSERT_TRUE(Open()->Restore(kServer, restored).ok());
  EXPECT_EQ(restored.facility_count(), 2u);
  EXPECT_FALSE(restored.ByUuid("u1").has_value());
  EXPECT_EQ(restored.ByCode("HF2")->name(), "Two renamed");
  EXPECT_TRUE(restored.ByCode("HF3").has_value());
}

TEST_F(IndexStoreTest, AStoreOfAnotherOpenImisIsNotUsedAndIsCleared) {
  FacilityIndex index;
  Fill(index);
  IndexMarks marks;
  marks.server = kServer;
  ASSERT_TRUE(Open()->Save(index, marks, true).ok());
  FacilityIndex other;
  absl::StatusOr<std::optional<IndexMarks>> got =
      Open()->Restore("graphql https://openimis.example.org/api", other);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  EXPECT_FALSE(other.loaded());
  EXPECT_EQ(other.facility_count(), 0u);
  FacilityIndex again;
  got = Open()->Restore(kServer, again);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value()) << "the other server's restore cleared the stale content";
}

TEST_F(IndexStoreTest, MarksOfNeverAreKept) {
  FacilityIndex index;
  Fill(index);
  IndexMarks marks;
  marks.server = kServer;  // high_water and verified_at: never
  ASSERT_TRUE(Open()->Save(index, marks, true).ok());
  FacilityIndex restored;
  absl::StatusOr<std::optional<IndexMarks>> got = Open()->Restore(kServer, restored);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->high_water, absl::InfinitePast());
  EXPECT_EQ((*got)->verified_at, absl::InfinitePast());
}

TEST_F(IndexStoreTest, AFileThatIsNotADatabaseIsAnErrorNamingIt) {
  {
    std::unique_ptr<IndexStore> store = Open();  // makes the folder's file
  }
  FILE* f = std::fopen(path_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not SQLite, just text that is long enough to be a header", f);
  std::fclose(f);
  absl::StatusOr<std::unique_ptr<IndexStore>> store = IndexStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path_), std::string::npos) << store.status();
}

}  // namespace
}  // namespace mflsync::writer
