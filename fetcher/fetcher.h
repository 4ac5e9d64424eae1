// The fetch of one MFL source: builds the workflow query (search or
// _history), follows next links under the origin policy, joins includes,
// drops repeats, repairs page boundaries that offset paging shifted, and
// hands each page to a sink as a FetchChangesResponse. Memory is bounded by
// the page size (plus a few keys per page boundary), not by the MFL size.
#ifndef MFLSYNC_FETCHER_FETCHER_H_
#define MFLSYNC_FETCHER_FETCHER_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/url.h"
#include "fetcher/bundle_page.h"
#include "fetcher/deduper.h"
#include "fetcher/mfl_client.h"
#include "fetcher/source_config.h"
#include "mflsync/v1/fetcher.pb.h"

namespace mflsync::fetcher {

struct FetchOptions {
  std::optional<absl::Time> since;           // unset: everything
  std::optional<FetchModeKind> mode;         // unset: the source's mode
  int page_size = 0;                         // 0: the source's page size
  std::vector<v1::RecordKey> already_seen;   // versions processed before
  // Not empty: only these Locations as the MFL serves them now (a search by
  // _id); since, mode and already_seen are ignored.
  std::vector<std::string> location_ids;
};

struct FetchStats {
  int64_t pages = 0;             // pages sent to the sink
  int64_t records = 0;           // records sent to the sink
  int64_t duplicates = 0;        // repeats dropped
  int64_t requests = 0;          // HTTP requests, retries included
  int64_t repair_requests = 0;   // boundary re-reads (search mode)
  int64_t repaired_records = 0;  // records only the boundary re-reads found
};

class Fetcher {
 public:
  // Receives one page; returns false to stop (the fetch ends CANCELLED).
  using PageSink = std::function<bool(v1::FetchChangesResponse&)>;
  // Polled between pages and during retry waits.
  using CancelCheck = std::function<bool()>;

  explicit Fetcher(SourceConfig source);

  // Runs one fetch. OK after the last page; otherwise the first error, which
  // names the source, the page and the cause.
  absl::Status Fetch(const FetchOptions& options, const PageSink& sink,
                     const CancelCheck& cancelled = nullptr);

  const FetchStats& stats() const { return stats_; }
  const SourceConfig& source() const { return source_; }

  // The first URL a fetch requests (exposed for tests and logs).
  std::string FirstUrl(FetchModeKind mode, std::optional<absl::Time> since,
                       int page_size) const;
  // The first URL of a fetch of given Locations: a search by _id.
  std::string IdsUrl(const std::vector<std::string>& location_ids, int page_size) const;

 private:
  struct PageMark {
    absl::Time server_time;  // when the server answered (Date, or our clock)
    bool server_clock = false;
    absl::Time first;        // lastUpdated of the first and last match
    absl::Time last;
    int64_t total = -1;
  };
  struct Run;  // state of one fetch
  struct FetchedPage;
  // A boundary re-read's lastUpdated range, both ends included.
  using TimeRange = std::pair<absl::Time, absl::Time>;

  // Reads pages from `first_url` to the last, sending each to the sink: the
  // main pass (history or search), or the re-read of a search-mode `gap`.
  absl::Status Pass(Run& run, const std::string& first_url, bool history,
                    std::optional<TimeRange> gap);
  // One page, parsed (and its references resolved, for history with
  // history_resolve_references). Errors begin with `where`.
  absl::StatusOr<FetchedPage> ReadPage(Run& run, const std::string& url, int page_no,
                                       bool history, const std::string& where);
  // The main search pass: notes the first answer's time and marks the page.
  void NoteMainSearchPage(Run& run, const FetchedPage& fetched);
  // The page's records to send: its defective entries (not again in a gap
  // re-read) and the records new to this fetch.
  v1::FetchChangesResponse SelectRecords(Run& run, BundlePage& page,
                                         const std::optional<TimeRange>& gap,
                                         bool main_search);
  // Sends `out` to the sink with the run's counters, unless it is a gap
  // re-read that found nothing. CANCELLED when the sink stops the fetch.
  absl::Status SendPage(Run& run, const std::optional<TimeRange>& gap,
                        v1::FetchChangesResponse& out, const std::string& where);
  // The URL of the page after `page` (read from `url`); nullopt when it was
  // the last (or an empty page with a next link).
  absl::StatusOr<std::optional<std::string>> NextUrl(Run& run, const BundlePage& page,
                                                     const std::string& url, int page_no,
                                                     const std::string& where);
  // Fetches the Organizations and Endpoints history records reference but
  // do not carry, and fills them in.
  absl::Status ResolveReferences(Run& run, std::vector<v1::SourceRecord>& records);
  // Searches `ids` of `type` by _id, adding them to `found` ("Type/id" → JSON).
  absl::Status FetchResources(Run& run, const std::string& type,
                              const std::vector<std::string>& ids,
                              std::unordered_map<std::string, std::string>* found);
  absl::Status Repair(Run& run);
  // Records the page's first and last instant (defective entries aside) for
  // Repair.
  void MarkPage(Run& run, const BundlePage& page, absl::Time answered, bool server_clock);
  std::string SearchUrl(const std::vector<std::pair<std::string, std::string>>& extra,
                        int page_size) const;

  SourceConfig source_;
  FetchStats stats_;
};

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_FETCHER_H_
