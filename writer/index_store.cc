#include "writer/index_store.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;

// The store's content format: a store of another format is discarded (it is
// a cache; the next refresh reads openIMIS in full).
constexpr char kFormat[] = "2";

const std::vector<SqliteMigration>& Migrations() {
  static const auto* migrations = new std::vector<SqliteMigration>{
      {1, "the index of openIMIS: marks, areas and health facilities",
       "CREATE TABLE marks (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
       "CREATE TABLE areas (uuid TEXT PRIMARY KEY, code TEXT NOT NULL,"
       " name TEXT NOT NULL, type TEXT NOT NULL, parent_uuid TEXT NOT NULL,"
       " id INTEGER NOT NULL);"
       "CREATE TABLE facilities (uuid TEXT PRIMARY KEY, code TEXT NOT NULL,"
       " name TEXT NOT NULL, level INTEGER NOT NULL, care_type INTEGER NOT NULL,"
       " legal_form TEXT NOT NULL, district_uuid TEXT NOT NULL,"
       " district_code TEXT NOT NULL, address TEXT NOT NULL, phone TEXT NOT NULL,"
       " fax TEXT NOT NULL, email TEXT NOT NULL, active INTEGER NOT NULL);"}};
  return *migrations;
}

// A mark as stored: microseconds since the epoch, "none" for never.
std::string TimeText(absl::Time t) {
  return t == absl::InfinitePast() ? "none" : absl::StrCat(absl::ToUnixMicros(t));
}

bool TimeFrom(const std::string& text, absl::Time* t) {
  int64_t micros = 0;
  if (text == "none") {
    *t = absl::InfinitePast();
    return true;
  }
  if (!absl::SimpleAtoi(text, &micros)) return false;
  *t = absl::FromUnixMicros(micros);
  return true;
}

absl::Status Annotate(const absl::Status& status, const std::string& path) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("writer index store ", path, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<IndexStore>> IndexStore::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(path);
  if (!db.ok()) return Annotate(db.status(), path);
  absl::Status migrated = (*db)->Migrate(Migrations());
  if (!migrated.ok()) return Annotate(migrated, path);
  return std::unique_ptr<IndexStore>(new IndexStore(*std::move(db)));
}

absl::StatusOr<std::optional<IndexMarks>> IndexStore::ReadMarks() {
  absl::StatusOr<SqliteStatement> q = db_->Prepare("SELECT key, value FROM marks");
  if (!q.ok()) return q.status();
  std::map<std::string, std::string> values;
  for (;;) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    values[q->ColumnText(0)] = q->ColumnText(1);
  }
  IndexMarks marks;
  marks.server = values["server"];
  if (values["format"] != kFormat || marks.server.empty() ||
      !TimeFrom(values["high_water_us"], &marks.high_water) ||
      !TimeFrom(values["verified_us"], &marks.verified_at) ||
      !TimeFrom(values["refresh_began_us"], &marks.refresh_began)) {
    return std::optional<IndexMarks>();
  }
  return std::optional<IndexMarks>(marks);
}

absl::StatusOr<std::optional<IndexMarks>> IndexStore::Restore(const std::string& server,
                                                               FacilityIndex& index) {
  absl::StatusOr<std::optional<IndexMarks>> marks = ReadMarks();
  if (!marks.ok()) return Annotate(marks.status(), path());
  if (!marks->has_value() || (*marks)->server != server) {
    absl::Status cleared = Clear();
    if (!cleared.ok()) return Annotate(cleared, path());
    return std::optional<IndexMarks>();
  }
  absl::Status read = RestoreAreas(index);
  if (read.ok()) read = RestoreFacilities(index);
  if (!read.ok()) return Annotate(read, path());
  index.ForgetChanges();
  index.MarkLoaded(absl::Now());
  return marks;
}

absl::Status IndexStore::RestoreAreas(FacilityIndex& index) {
  absl::StatusOr<SqliteStatement> q =
      db_->Prepare("SELECT uuid, code, name, type, parent_uuid, id FROM areas");
  if (!q.ok()) return q.status();
  std::vector<Area> areas;
  for (;;) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    areas.push_back(Area{q->ColumnText(0), q->ColumnText(1), q->ColumnText(2),
                         q->ColumnText(3), q->ColumnText(4), q->ColumnInt(5)});
  }
  index.SetAreas(std::move(areas));
  return absl::OkStatus();
}

absl::Status IndexStore::RestoreFacilities(FacilityIndex& index) {
  absl::StatusOr<SqliteStatement> q = db_->Prepare(
      "SELECT uuid, code, name, level, care_type, legal_form, district_uuid, district_code,"
      " address, phone, fax, email, active FROM facilities");
  if (!q.ok()) return q.status();
  HealthFacility f;
  for (;;) {
    absl::StatusOr<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    f.set_uuid(q->ColumnText(0));
    f.set_code(q->ColumnText(1));
    f.set_name(q->ColumnText(2));
    f.set_level(static_cast<mflsync::v1::FacilityLevel>(q->ColumnInt(3)));
    f.set_care_type(static_cast<mflsync::v1::CareType>(q->ColumnInt(4)));
    f.set_legal_form(q->ColumnText(5));
    f.set_district_uuid(q->ColumnText(6));
    f.set_district_code(q->ColumnText(7));
    f.set_address(q->ColumnText(8));
    f.set_phone(q->ColumnText(9));
    f.set_fax(q->ColumnText(10));
    f.set_email(q->ColumnText(11));
    f.set_active(q->ColumnInt(12) != 0);
    index.Put(f);
  }
}

absl::Status IndexStore::Clear() {
  return db_->Exec("DELETE FROM marks; DELETE FROM areas; DELETE FROM facilities;");
}

absl::Status IndexStore::Save(FacilityIndex& index, const IndexMarks& marks, bool rewrite) {
  absl::Status status = db_->Begin();
  if (!status.ok()) return Annotate(status, path());
  if (rewrite) status = db_->Exec("DELETE FROM facilities;");
  if (status.ok()) status = SaveAreas(index);
  if (status.ok()) status = SaveFacilities(index, rewrite);
  if (status.ok()) status = SaveMarks(marks);
  if (status.ok()) status = db_->Commit();
  if (!status.ok()) db_->Rollback();
  return Annotate(status, path());
}

absl::Status IndexStore::SaveAreas(const FacilityIndex& index) {
  absl::Status status = db_->Exec("DELETE FROM areas;");
  if (!status.ok()) return status;
  absl::StatusOr<SqliteStatement> insert = db_->Prepare(
      "INSERT INTO areas (uuid, code, name, type, parent_uuid, id) VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  for (const Area& area : index.Areas()) {
    insert->Reset();
    status = insert->Bind(1, area.uuid)
                 .Bind(2, area.code)
                 .Bind(3, area.name)
                 .Bind(4, area.type)
                 .Bind(5, area.parent_uuid)
                 .Bind(6, area.id)
                 .Run();
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status IndexStore::SaveFacilities(FacilityIndex& index, bool rewrite) {
  absl::StatusOr<SqliteStatement> upsert = db_->Prepare(
      "INSERT OR REPLACE INTO facilities (uuid, code, name, level, care_type, legal_form,"
      " district_uuid, district_code, address, phone, fax, email, active)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!upsert.ok()) return upsert.status();
  absl::StatusOr<SqliteStatement> remove = db_->Prepare("DELETE FROM facilities WHERE uuid = ?");
  if (!remove.ok()) return remove.status();
  absl::Status status;
  auto put = [&](const HealthFacility& f) {
    if (!status.ok()) return;
    upsert->Reset();
    status = upsert->Bind(1, f.uuid())
                 .Bind(2, f.code())
                 .Bind(3, f.name())
                 .Bind(4, int64_t{f.level()})
                 .Bind(5, int64_t{f.care_type()})
                 .Bind(6, f.legal_form())
                 .Bind(7, f.district_uuid())
                 .Bind(8, f.district_code())
                 .Bind(9, f.address())
                 .Bind(10, f.phone())
                 .Bind(11, f.fax())
                 .Bind(12, f.email())
                 .Bind(13, int64_t{f.active() ? 1 : 0})
                 .Run();
  };
  auto removed = [&](const std::string& uuid) {
    if (!status.ok()) return;
    remove->Reset();
    status = remove->Bind(1, uuid).Run();
  };
  if (rewrite) {
    index.ForEachFacility(put);
  } else {
    index.DrainChanges(put, removed);
  }
  return status;
}

absl::Status IndexStore::SaveMarks(const IndexMarks& marks) {
  absl::StatusOr<SqliteStatement> put =
      db_->Prepare("INSERT OR REPLACE INTO marks (key, value) VALUES (?, ?)");
  if (!put.ok()) return put.status();
  const std::pair<const char*, std::string> values[] = {
      {"format", kFormat},
      {"server", marks.server},
      {"high_water_us", TimeText(marks.high_water)},
      {"verified_us", TimeText(marks.verified_at)},
      {"refresh_began_us", TimeText(marks.refresh_began)}};
  for (const auto& [key, value] : values) {
    put->Reset();
    absl::Status status = put->Bind(1, key).Bind(2, value).Run();
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace mflsync::writer
