#include "fetcher/fetcher.h"

#include <algorithm>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fhir.h"
#include "common/log.h"
#include "fetcher/next_link.h"

namespace mflsync::fetcher {
namespace {

std::string BoundaryKey(const v1::SourceRecord& r) {
  return absl::StrCat(r.location_id(), "\x1f", r.version_id());
}

absl::Status Annotate(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

struct Fetcher::Run {
  Run(const SourceConfig& source, MflClient::Sleeper sleeper, Url base_url)
      : client(source, std::move(sleeper)), base(std::move(base_url)), dedup(source.overlap) {}

  MflClient client;
  Url base;
  std::optional<NextLinkRebase> rebase;
  Deduper dedup;
  const PageSink* sink = nullptr;
  const CancelCheck* cancelled = nullptr;
  int page_size = 0;
  int requested_pages = 0;  // for messages: every page read, repairs included
  int emitted_pages = 0;
  int64_t gap_duplicates = 0;
  std::optional<absl::Time> high;
  int64_t server_total = -1;
  // Search mode, main pass: one mark per page with matches, and the keys of
  // the records sitting on each page's first and last instant.
  std::vector<PageMark> marks;
  std::map<absl::Time, std::set<std::string>> boundary_keys;
  std::optional<absl::Time> first_server_time;
  absl::Duration skew = absl::Seconds(2);
  std::optional<absl::Time> earliest_recent;  // lowest lastUpdated changed mid-fetch

  bool Cancelled() const { return cancelled != nullptr && *cancelled && (*cancelled)(); }

  // Whether `r` (not defective) is new to this fetch: not a repeat the
  // Deduper knows and, in a gap re-read, inside the gap and not read on a
  // page edge or by an earlier re-read.
  bool IsNew(const v1::SourceRecord& r, const std::optional<TimeRange>& gap) {
    const absl::Time t = RecordTime(r);
    if (gap.has_value()) {
      if (t < gap->first || t > gap->second) return false;  // outside the boundary
      // Seen on a page edge or by an earlier re-read: a repeat. (The
      // Deduper's window has moved on with the frontier by now.)
      if (!boundary_keys[t].insert(BoundaryKey(r)).second) {
        ++gap_duplicates;
        return false;
      }
    }
    return dedup.Offer(r.location_id(), r.version_id(), t);
  }

  // Takes the lastUpdated `t` of a record sent into the high watermark and,
  // in the main search pass, into the earliest change made mid-fetch.
  void NoteSent(absl::Time t, bool main_search) {
    if (main_search && t >= *first_server_time - skew &&
        (!earliest_recent.has_value() || t < *earliest_recent))
      earliest_recent = t;
    if (!high.has_value() || t > *high) high = t;
  }
};

// One page as read: the bundle, and when the server answered (by its Date
// header when `server_clock`, else by our clock).
struct Fetcher::FetchedPage {
  BundlePage page;
  absl::Time answered;
  bool server_clock = false;
};

Fetcher::Fetcher(SourceConfig source) : source_(std::move(source)) {}

std::string Fetcher::SearchUrl(const std::vector<std::pair<std::string, std::string>>& extra,
                               int page_size) const {
  std::vector<std::pair<std::string, std::string>> params = extra;
  if (source_.include_organization && !source_.include_organization_value.empty())
    params.emplace_back("_include", source_.include_organization_value);
  if (source_.include_endpoint && !source_.include_endpoint_value.empty())
    params.emplace_back("_include", source_.include_endpoint_value);
  params.emplace_back(source_.count_param, absl::StrCat(page_size));
  if (!source_.sort_param.empty() && !source_.sort_value.empty())
    params.emplace_back(source_.sort_param, source_.sort_value);
  if (!source_.total_param.empty() && !source_.total_value.empty())
    params.emplace_back(source_.total_param, source_.total_value);
  return absl::StrCat(JoinUrl(source_.base_url, source_.resource_type), "?", BuildQuery(params));
}

std::string Fetcher::FirstUrl(FetchModeKind mode, std::optional<absl::Time> since,
                              int page_size) const {
  if (mode == FetchModeKind::kHistory) {
    std::vector<std::pair<std::string, std::string>> params;
    if (since.has_value()) params.emplace_back(source_.since_param, FormatFhirInstant(*since));
    params.emplace_back(source_.count_param, absl::StrCat(page_size));
    return absl::StrCat(
        JoinUrl(source_.base_url, absl::StrCat(source_.resource_type, "/_history")), "?",
        BuildQuery(params));
  }
  std::vector<std::pair<std::string, std::string>> params;
  if (since.has_value())
    params.emplace_back(source_.last_updated_param,
                        absl::StrCat("ge", FormatFhirInstant(*since)));
  return SearchUrl(params, page_size);
}

std::string Fetcher::IdsUrl(const std::vector<std::string>& location_ids,
                            int page_size) const {
  return SearchUrl({{"_id", absl::StrJoin(location_ids, ",")}}, page_size);
}

absl::Status Fetcher::Fetch(const FetchOptions& options, const PageSink& sink,
                            const CancelCheck& cancelled) {
  stats_ = FetchStats{};
  absl::StatusOr<Url> base = ParseUrl(source_.base_url);
  if (!base.ok())
    return absl::FailedPreconditionError(absl::StrCat(
        "sources.", source_.name, ".base_url: ", base.status().message()));
  MflClient::Sleeper sleeper = [&cancelled](absl::Duration d) {
    const absl::Time until = absl::Now() + d;
    while (absl::Now() < until) {
      if (cancelled && cancelled()) return false;
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(100)));
    }
    return true;
  };
  Run run(source_, std::move(sleeper), *base);
  if (!source_.upstream_base_url.empty()) {
    absl::StatusOr<Url> upstream = ParseUrl(source_.upstream_base_url);
    if (!upstream.ok())
      return absl::FailedPreconditionError(absl::StrCat(
          "sources.", source_.name, ".upstream_base_url: ", upstream.status().message()));
    run.rebase = NextLinkRebase{*upstream, source_.base_url};
  }
  run.sink = &sink;
  run.cancelled = &cancelled;
  run.page_size = options.page_size > 0 ? options.page_size : source_.page_size;
  const bool by_id = !options.location_ids.empty();
  // A fetch by id wants the current versions, whatever was seen before.
  const std::vector<v1::RecordKey> no_keys;
  for (const v1::RecordKey& key : by_id ? no_keys : options.already_seen)
    run.dedup.Seed(key.location_id(), key.version_id(), FromTimestamp(key.last_updated()));
  const FetchModeKind mode = by_id ? FetchModeKind::kSearch : options.mode.value_or(source_.mode);
  std::optional<absl::Time> since;
  if (options.since.has_value()) since = *options.since - source_.overlap;
  const bool history = mode == FetchModeKind::kHistory;
  const std::string first = by_id ? IdsUrl(options.location_ids, run.page_size)
                                  : FirstUrl(mode, since, run.page_size);
  LogInfo("fetch started", {{"source", source_.name},
                            {"mode", history ? "history" : "search"},
                            {"url", Redact(first)},
                            {"already_seen", options.already_seen.size()}});
  absl::Status status = Pass(run, first, history, std::nullopt);
  if (status.ok() && !history && !by_id && source_.repair_shifted_pages) status = Repair(run);
  stats_.requests = run.client.requests();
  stats_.duplicates = run.dedup.dropped() + run.gap_duplicates;
  if (!status.ok()) {
    LogWarning("fetch failed", {{"source", source_.name}, {"error", status.message()}});
    return status;
  }
  LogInfo("fetch finished", {{"source", source_.name},
                             {"pages", stats_.pages},
                             {"records", stats_.records},
                             {"duplicates", stats_.duplicates},
                             {"requests", stats_.requests},
                             {"repair_requests", stats_.repair_requests},
                             {"repaired_records", stats_.repaired_records}});
  return absl::OkStatus();
}

absl::Status Fetcher::Pass(Run& run, const std::string& first_url, bool history,
                           std::optional<TimeRange> gap) {
  const bool main_search = !history && !gap.has_value();
  std::string url = first_url;
  while (true) {
    if (run.Cancelled())
      return absl::CancelledError(absl::StrCat("source '", source_.name,
                                               "': fetch cancelled before page ",
                                               run.requested_pages + 1));
    const int page_no = ++run.requested_pages;
    if (gap.has_value()) ++stats_.repair_requests;
    const std::string where = absl::StrCat("source '", source_.name, "', page ", page_no, ": ");
    absl::StatusOr<FetchedPage> fetched = ReadPage(run, url, page_no, history, where);
    if (!fetched.ok()) return fetched.status();
    if (main_search) NoteMainSearchPage(run, *fetched);
    v1::FetchChangesResponse out = SelectRecords(run, fetched->page, gap, main_search);
    if (run.server_total < 0) run.server_total = fetched->page.total;
    absl::Status sent = SendPage(run, gap, out, where);
    if (!sent.ok()) return sent;
    absl::StatusOr<std::optional<std::string>> next =
        NextUrl(run, fetched->page, url, page_no, where);
    if (!next.ok()) return next.status();
    if (!next->has_value()) return absl::OkStatus();
    url = **std::move(next);
  }
}

absl::StatusOr<Fetcher::FetchedPage> Fetcher::ReadPage(Run& run, const std::string& url,
                                                       int page_no, bool history,
                                                       const std::string& where) {
  absl::StatusOr<MflResponse> response = run.client.Get(url);
  if (!response.ok()) return Annotate(response.status(), where);
  const absl::Time answered = response->server_time.value_or(absl::Now());
  PageContext ctx{.source_id = source_.name,
                  .page = page_no,
                  .url = Redact(url),
                  .resource_type = source_.resource_type,
                  .history = history,
                  .expect_organization = history || source_.include_organization,
                  .expect_endpoint = history || source_.include_endpoint};
  absl::StatusOr<BundlePage> page = ParseBundlePage(response->body, ctx);
  response->body.clear();
  response->body.shrink_to_fit();
  if (!page.ok()) return page.status();
  if (history && source_.history_resolve_references) {
    absl::Status resolved = ResolveReferences(run, page->records);
    if (!resolved.ok()) return Annotate(resolved, where);
  }
  return FetchedPage{*std::move(page), answered, response->server_time.has_value()};
}

void Fetcher::NoteMainSearchPage(Run& run, const FetchedPage& fetched) {
  if (!run.first_server_time.has_value()) {
    run.first_server_time = fetched.answered;
    if (!fetched.server_clock) run.skew = std::max(source_.overlap, run.skew);
  }
  MarkPage(run, fetched.page, fetched.answered, fetched.server_clock);
}

v1::FetchChangesResponse Fetcher::SelectRecords(Run& run, BundlePage& page,
                                                const std::optional<TimeRange>& gap,
                                                bool main_search) {
  v1::FetchChangesResponse out;
  for (std::string& w : page.warnings) out.add_warnings(std::move(w));
  for (v1::SourceRecord& r : page.records) {
    if (r.fetch_rejections_size() > 0) {
      // A defective entry: parked by the scheduler, never a time for the
      // watermark or the dedup; a boundary re-read has sent it already.
      if (!gap.has_value()) *out.add_records() = std::move(r);
      continue;
    }
    if (!run.IsNew(r, gap)) continue;
    run.NoteSent(RecordTime(r), main_search);
    if (gap.has_value()) ++stats_.repaired_records;
    *out.add_records() = std::move(r);
  }
  return out;
}

absl::Status Fetcher::SendPage(Run& run, const std::optional<TimeRange>& gap,
                               v1::FetchChangesResponse& out, const std::string& where) {
  if (gap.has_value() && out.records_size() == 0 && out.warnings_size() == 0) {
    return absl::OkStatus();  // a re-read that found nothing new
  }
  out.set_page(++run.emitted_pages);
  if (run.high.has_value()) *out.mutable_high_watermark() = ToTimestamp(*run.high);
  if (run.first_server_time.has_value())
    *out.mutable_server_time() = ToTimestamp(*run.first_server_time);
  out.set_duplicates_dropped(run.dedup.dropped() + run.gap_duplicates);
  out.set_server_total(run.server_total);
  ++stats_.pages;
  stats_.records += out.records_size();
  if (!(*run.sink)(out))
    return absl::CancelledError(absl::StrCat(where, "the receiver stopped the fetch"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> Fetcher::NextUrl(Run& run, const BundlePage& page,
                                                            const std::string& url,
                                                            int page_no,
                                                            const std::string& where) {
  if (!page.next_link.has_value()) return std::nullopt;
  if (page.entries == 0) {
    LogWarning("empty page with a next link; stopping here",
               {{"source", source_.name}, {"page", page_no}});
    return std::nullopt;
  }
  absl::StatusOr<std::string> next = ResolveNextLink(
      run.base, *page.next_link, run.rebase.has_value() ? &*run.rebase : nullptr);
  if (!next.ok()) return Annotate(next.status(), where);
  if (*next == url)
    return absl::InvalidArgumentError(absl::StrCat(
        where, "the next link repeats the page just read (", Redact(url),
        "); stopping instead of looping"));
  return std::optional<std::string>(*std::move(next));
}

void Fetcher::MarkPage(Run& run, const BundlePage& page, absl::Time answered,
                       bool server_clock) {
  std::optional<PageMark> mark;
  for (const v1::SourceRecord& r : page.records) {
    if (r.fetch_rejections_size() > 0) continue;
    const absl::Time t = RecordTime(r);
    if (!mark.has_value()) {
      mark = PageMark{.server_time = answered, .server_clock = server_clock,
                      .first = t, .last = t, .total = page.total};
    }
    mark->first = std::min(mark->first, t);
    mark->last = std::max(mark->last, t);
  }
  if (!mark.has_value()) return;
  for (const v1::SourceRecord& r : page.records) {
    if (r.fetch_rejections_size() > 0) continue;
    const absl::Time t = RecordTime(r);
    if (t == mark->first || t == mark->last) run.boundary_keys[t].insert(BoundaryKey(r));
  }
  run.marks.push_back(*mark);
}

absl::Status Fetcher::Repair(Run& run) {
  for (size_t i = 1; i < run.marks.size(); ++i) {
    const PageMark& before = run.marks[i - 1];
    const PageMark& after = run.marks[i];
    const bool total_moved = before.total >= 0 && after.total >= 0 && before.total != after.total;
    const bool changed_meanwhile = run.earliest_recent.has_value() &&
                                   after.server_time + run.skew >= *run.earliest_recent;
    if (!total_moved && !changed_meanwhile) continue;
    const absl::Time a = before.last;
    const absl::Time b = after.first;
    if (b < a) continue;  // not in lastUpdated order: nothing to bound the gap with
    const std::string url = SearchUrl(
        {{source_.last_updated_param, absl::StrCat("ge", FormatFhirInstant(a))},
         {source_.last_updated_param,
          absl::StrCat("le", FormatFhirInstant(b))}},
        run.page_size);
    LogInfo("re-reading a page boundary that changed during the fetch",
            {{"source", source_.name},
             {"boundary", i},
             {"from", FormatFhirInstant(a)},
             {"to", FormatFhirInstant(b)}});
    absl::Status s = Pass(run, url, /*history=*/false, std::make_pair(a, b));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

namespace {

// The Organizations and Endpoints `records` still reference: type → ids.
std::map<std::string, std::set<std::string>> WantedReferences(
    const std::vector<v1::SourceRecord>& records) {
  std::map<std::string, std::set<std::string>> wanted;
  for (const v1::SourceRecord& r : records) {
    for (const std::string& ref : r.unresolved_references()) {
      absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref);
      if (parsed.ok() && (parsed->type == "Organization" || parsed->type == "Endpoint"))
        wanted[parsed->type].insert(parsed->id);
    }
  }
  return wanted;
}

// Adds the `type` resources of the searchset `doc` to `found` ("Type/id" →
// JSON).
void CollectResources(const nlohmann::json& doc, const std::string& type,
                      std::unordered_map<std::string, std::string>* found) {
  auto entries = doc.find("entry");
  if (entries == doc.end() || !entries->is_array()) return;
  for (const nlohmann::json& entry : *entries) {
    if (!entry.is_object() || !entry.contains("resource")) continue;
    const nlohmann::json& res = entry["resource"];
    if (!res.is_object() || res.value("resourceType", "") != type) continue;
    auto id = res.find("id");
    if (id == res.end() || !id->is_string()) continue;
    (*found)[absl::StrCat(type, "/", id->get<std::string>())] = res.dump();
  }
}

// Moves the `found` resources into the records that reference them; the
// references still unresolved stay listed.
void ApplyResolved(const std::unordered_map<std::string, std::string>& found,
                   std::vector<v1::SourceRecord>& records) {
  for (v1::SourceRecord& r : records) {
    if (r.unresolved_references().empty()) continue;
    google::protobuf::RepeatedPtrField<std::string> still;
    for (const std::string& ref : r.unresolved_references()) {
      absl::StatusOr<FhirReference> parsed = ParseFhirReference(ref);
      auto it = parsed.ok() ? found.find(absl::StrCat(parsed->type, "/", parsed->id))
                            : found.end();
      if (it == found.end()) {
        *still.Add() = ref;
      } else if (parsed->type == "Organization") {
        r.set_organization_json(it->second);
      } else {
        r.add_endpoint_json(it->second);
      }
    }
    r.mutable_unresolved_references()->Swap(&still);
  }
}

}  // namespace

absl::Status Fetcher::ResolveReferences(Run& run, std::vector<v1::SourceRecord>& records) {
  const std::map<std::string, std::set<std::string>> wanted = WantedReferences(records);
  if (wanted.empty()) return absl::OkStatus();
  std::unordered_map<std::string, std::string> found;  // "Type/id" → JSON
  constexpr size_t kChunk = 100;
  for (const auto& [type, ids] : wanted) {
    std::vector<std::string> list(ids.begin(), ids.end());
    for (size_t start = 0; start < list.size(); start += kChunk) {
      std::vector<std::string> chunk(list.begin() + start,
                                     list.begin() + std::min(list.size(), start + kChunk));
      absl::Status s = FetchResources(run, type, chunk, &found);
      if (!s.ok()) return s;
    }
  }
  ApplyResolved(found, records);
  return absl::OkStatus();
}

absl::Status Fetcher::FetchResources(Run& run, const std::string& type,
                                     const std::vector<std::string>& ids,
                                     std::unordered_map<std::string, std::string>* found) {
  std::string url = absl::StrCat(
      JoinUrl(source_.base_url, type), "?",
      BuildQuery({{"_id", absl::StrJoin(ids, ",")},
                  {source_.count_param, absl::StrCat(ids.size())}}));
  absl::StatusOr<MflResponse> response = run.client.Get(url);
  if (!response.ok()) return response.status();
  absl::StatusOr<nlohmann::json> parsed = ParseJson(response->body);
  const nlohmann::json doc = parsed.ok() ? *std::move(parsed) : nlohmann::json();
  if (!doc.is_object() || doc.value("resourceType", "") != "Bundle")
    return absl::InvalidArgumentError(absl::StrCat(
        "GET ", Redact(url), ": expected a Bundle of ", type, " resources"));
  CollectResources(doc, type, found);
  return absl::OkStatus();
}

}  // namespace mflsync::fetcher
