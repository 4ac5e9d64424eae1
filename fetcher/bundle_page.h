// Turns one MFL Bundle page (searchset or history) into SourceRecords: sorts
// entries by search.mode, joins each Location to the Organization and
// Endpoints the page included, flags references that were not included, and
// maps history DELETE entries to deletions. A defect of one entry (no
// resource, no id, no usable time) becomes a record of its own carrying
// fetch_rejections, in its place in Bundle order; only a defect of the page
// itself (not JSON, with the byte offset; not a Bundle) is an error.
#ifndef MFLSYNC_FETCHER_BUNDLE_PAGE_H_
#define MFLSYNC_FETCHER_BUNDLE_PAGE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::fetcher {

struct PageContext {
  std::string source_id;
  int page = 1;                    // 1-based, for messages
  std::string url;                 // redacted, for messages
  std::string resource_type = "Location";
  bool history = false;            // a history Bundle
  bool expect_organization = true; // flag a managingOrganization not included
  bool expect_endpoint = true;     // flag an endpoint not included
};

struct BundlePage {
  std::vector<v1::SourceRecord> records;  // in Bundle order
  std::optional<std::string> next_link;   // raw Bundle.link[next].url
  int64_t total = -1;                     // Bundle.total, or -1
  size_t entries = 0;                     // entries in the Bundle
  // OperationOutcome issues among the entries: "severity (code): text".
  std::vector<std::string> warnings;
};

absl::StatusOr<BundlePage> ParseBundlePage(absl::string_view body, const PageContext& ctx);

// The record's meta.lastUpdated.
absl::Time RecordTime(const v1::SourceRecord& record);

}  // namespace mflsync::fetcher

#endif  // MFLSYNC_FETCHER_BUNDLE_PAGE_H_
