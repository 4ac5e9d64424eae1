// The writer's index on disk (one SQLite file, `index.path`): the areas and
// facilities of openIMIS as the index last held them, and the marks of the
// last refreshes, so that a restart or the next run reads from openIMIS only
// what changed since. A cache: it names the openIMIS it was read from, and
// one of another server, or of another format, is discarded.
#ifndef MFLSYNC_WRITER_INDEX_STORE_H_
#define MFLSYNC_WRITER_INDEX_STORE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "writer/facility_index.h"

namespace mflsync::writer {

// Where the index stands against openIMIS.
struct IndexMarks {
  // The openIMIS the index was read from (its API root and API).
  std::string server;
  // The newest validityFrom (openIMIS's clock) any refresh read: the next
  // incremental refresh reads from there (less an overlap).
  absl::Time high_water = absl::InfinitePast();
  // The end of the last full read (a first load or a verification).
  absl::Time verified_at = absl::InfinitePast();
  // openIMIS's time (a lower bound, ServerClock) when the last refresh
  // began; never when the writer had no sample of openIMIS's clock.
  absl::Time refresh_began = absl::InfinitePast();
};

class IndexStore {
 public:
  // Opens (creating when missing) the store at `path`.
  static absl::StatusOr<std::unique_ptr<IndexStore>> Open(const std::string& path);

  // Reads the stored index into `index` (areas, then facilities; marked
  // loaded, with no pending changes) when it was read from `server`, and
  // answers its marks; nullopt (nothing read, the stale content deleted)
  // when the store is empty or holds another server's index.
  absl::StatusOr<std::optional<IndexMarks>> Restore(const std::string& server,
                                                    FacilityIndex& index);

  // Saves, in one transaction, the areas, the index's changes since the
  // last save (every facility when `rewrite`) and `marks`. On an error the
  // store keeps its previous content; save again with `rewrite`.
  absl::Status Save(FacilityIndex& index, const IndexMarks& marks, bool rewrite);

  const std::string& path() const { return db_->path(); }

 private:
  explicit IndexStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  absl::StatusOr<std::optional<IndexMarks>> ReadMarks();
  absl::Status RestoreAreas(FacilityIndex& index);
  absl::Status RestoreFacilities(FacilityIndex& index);
  absl::Status Clear();
  absl::Status SaveAreas(const FacilityIndex& index);
  absl::Status SaveFacilities(FacilityIndex& index, bool rewrite);
  absl::Status SaveMarks(const IndexMarks& marks);

  std::unique_ptr<SqliteDb> db_;
};

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_INDEX_STORE_H_
