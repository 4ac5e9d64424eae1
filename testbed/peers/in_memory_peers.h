// A test double of the three peer services for the scheduler's unit tests:
// an in-memory MFL (sorted by lastUpdated, paged, with already_seen and an
// overlap window like the fetcher), a toy mapping (rejects names containing
// a marker), and an in-memory openIMIS with injectable write failures. The
// end-to-end tests in tests/e2e/ use the real services instead.
#ifndef MFLSYNC_TESTBED_PEERS_IN_MEMORY_PEERS_H_
#define MFLSYNC_TESTBED_PEERS_IN_MEMORY_PEERS_H_

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/physical_type.h"
#include "scheduler/peers.h"
#include "scheduler/state_store.h"

namespace mflsync::scheduler::testing {

class InMemoryPeers final : public Peers {
 public:
  // --- MFL side ---
  void Put(const std::string& id, const std::string& name, int64_t last_updated_s,
           bool active = true) {
    std::lock_guard<std::mutex> lock(mu_);
    v1::SourceRecord r;
    r.set_source_id("test");
    r.set_location_id(id);
    r.set_version_id(absl::StrCat(++versions_[id]));
    *r.mutable_last_updated() = FromMicros(last_updated_s * 1000000);
    r.set_location_json(nlohmann::json{{"resourceType", "Location"},
                                       {"id", id},
                                       {"name", name},
                                       {"status", active ? "active" : "inactive"}}
                            .dump());
    mfl_[id] = r;
  }

  // The MFL's current record of `id`, and serving `r` again (an MFL replica
  // or a cache that answers with an older version).
  v1::SourceRecord Record(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return mfl_.at(id);
  }
  void Serve(const v1::SourceRecord& r) {
    std::lock_guard<std::mutex> lock(mu_);
    mfl_[r.location_id()] = r;
  }

  // The MFL no longer serves `id` (a deletion a search does not show).
  void Remove(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    mfl_.erase(id);
  }

  // A jurisdiction Location (physicalType jdn), not a facility; its record
  // carries physical_type as the fetcher sets it, or not (`read_by_producer`
  // false: an older producer, a stored copy).
  void PutJurisdiction(const std::string& id, int64_t last_updated_s,
                       bool read_by_producer = true) {
    Put(id, "County", last_updated_s);
    std::lock_guard<std::mutex> lock(mu_);
    const nlohmann::json location{{"resourceType", "Location"},
                                  {"id", id},
                                  {"name", "County"},
                                  {"physicalType", {{"coding", {{{"code", "jdn"}}}}}}};
    mfl_[id].set_location_json(location.dump());
    if (read_by_producer) *mfl_[id].mutable_physical_type() = PhysicalTypeOf(location);
  }

  // --- knobs ---
  std::string reject_marker = "BAD";
  std::string plan_reject_marker;   // names with it: PlanWrites rejects (a namesake)
  int fail_writes = 0;              // next N written items answer FAILED
  bool mapper_down = false;         // MapFacilities answers UNAVAILABLE
  int fetch_error_after_pages = -1; // FetchChanges fails after N pages
  int fetch_errors = -1;            // ... this many times (-1: every time)
  int fetch_calls = 0;              // FetchChanges calls so far
  int block_at_page = -1;           // FetchChanges waits before page N
  int page_size = 5;
  int64_t overlap_s = 60;
  // Called with every map request before it is answered (e.g. to fill the
  // disk just then).
  std::function<void(const v1::MapFacilitiesRequest&)> on_map;

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitBlocked() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return blocked_; });
  }

  // --- observations ---
  std::map<std::string, v1::HealthFacility> openimis() {
    std::lock_guard<std::mutex> lock(mu_);
    return openimis_;
  }
  int writes() {
    std::lock_guard<std::mutex> lock(mu_);
    return writes_;
  }
  v1::FetchChangesRequest last_fetch() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_fetch_;
  }
  // The modes of the RefreshIndex calls, in order.
  std::vector<v1::RefreshMode> refresh_modes() {
    std::lock_guard<std::mutex> lock(mu_);
    return refresh_modes_;
  }

  absl::StatusOr<v1::ListSourcesResponse> ListSources() override {
    v1::ListSourcesResponse r;
    r.add_sources()->set_source_id("test");
    return r;
  }

  absl::Status FetchChanges(const v1::FetchChangesRequest& req,
                            const std::function<bool(v1::FetchChangesResponse&)>& on_page,
                            CancelToken& cancel) override {
    std::vector<v1::SourceRecord> records;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_fetch_ = req;
      ++fetch_calls;
      std::set<std::string> seen;
      for (const v1::RecordKey& k : req.already_seen()) {
        seen.insert(absl::StrCat(k.location_id(), "|", k.version_id()));
      }
      int64_t since = req.has_since() ? ToMicros(req.since()) - overlap_s * 1000000
                                      : INT64_MIN;
      // A fetch by id: the current versions of those Locations, nothing else.
      const std::set<std::string> only(req.location_ids().begin(), req.location_ids().end());
      for (const auto& [id, r] : mfl_) {
        if (!only.empty()) {
          if (only.count(id)) records.push_back(r);
          continue;
        }
        // A defective entry has no usable time: the MFL matched it by the
        // time it keeps, so it comes whatever `since` is.
        if (r.fetch_rejections_size() == 0 && ToMicros(r.last_updated()) < since) continue;
        if (seen.count(absl::StrCat(id, "|", r.version_id()))) continue;
        records.push_back(r);
      }
    }
    std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
      return ToMicros(a.last_updated()) < ToMicros(b.last_updated());
    });
    int page_no = 0;
    for (size_t i = 0; i < records.size(); i += page_size) {
      if (cancel.cancelled()) return absl::CancelledError("cancelled");
      if (page_no == fetch_error_after_pages && fetch_errors != 0) {
        std::lock_guard<std::mutex> lock(mu_);
        if (fetch_errors > 0) --fetch_errors;
        return absl::UnavailableError("fetcher FetchChanges failed: MFL answered 503");
      }
      if (page_no == block_at_page) {
        std::unique_lock<std::mutex> lock(mu_);
        blocked_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
      }
      ++page_no;
      v1::FetchChangesResponse page;
      page.set_page(page_no);
      page.set_server_total(static_cast<int64_t>(records.size()));  // as if asked, _total
      for (size_t j = i; j < std::min(records.size(), i + page_size); ++j) {
        *page.add_records() = records[j];
        *page.mutable_high_watermark() = records[j].last_updated();
      }
      if (!on_page(page)) return absl::CancelledError("stopped");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::MapFacilitiesResponse> MapFacilities(const v1::MapFacilitiesRequest& req,
                                                          CancelToken&) override {
    if (on_map) on_map(req);
    if (mapper_down) return absl::UnavailableError("mapper down (in-memory peers)");
    struct Concurrency {
      InMemoryPeers* p;
      explicit Concurrency(InMemoryPeers* peers) : p(peers) {
        std::lock_guard<std::mutex> lock(p->mu_);
        p->max_concurrent_maps_ = std::max(p->max_concurrent_maps_, ++p->concurrent_maps_);
      }
      ~Concurrency() {
        std::lock_guard<std::mutex> lock(p->mu_);
        --p->concurrent_maps_;
      }
    } concurrency(this);
    std::this_thread::yield();
    v1::MapFacilitiesResponse resp;
    for (const v1::SourceRecord& r : req.records()) {
      v1::MappedRecord* m = resp.add_results();
      m->set_location_id(r.location_id());
      nlohmann::json j = nlohmann::json::parse(r.location_json(), nullptr, false);
      std::string name = j.value("name", "");
      if (!reject_marker.empty() && absl::StrContains(name, reject_marker)) {
        v1::Rejection* rej = m->add_rejections();
        rej->set_rule("mapping.facility_type.unknown");
        rej->set_fhir_path("Location.type[0]");
        rej->set_value(name);
        rej->set_message("the facility type is not in the facility_types table");
        continue;
      }
      v1::HealthFacility* f = m->mutable_facility();
      f->set_code(r.location_id());
      f->set_name(name);
      f->set_active(j.value("status", "") == "active");
      f->set_district_code("D1");
    }
    return resp;
  }

  // The writer's plan, by HF code only (the real rules: writer/write_planner.h).
  absl::StatusOr<v1::PlanWritesResponse> PlanWrites(const v1::PlanWritesRequest& req,
                                                    CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu_);
    v1::PlanWritesResponse resp;
    for (const v1::MappedRecord& m : req.records()) {
      const v1::HealthFacility& f = m.facility();
      v1::Reconciliation* r = resp.add_results();
      *r->mutable_facility() = f;
      auto existing = openimis_.find(f.code());
      if (!plan_reject_marker.empty() && absl::StrContains(f.name(), plan_reject_marker)) {
        r->set_action(v1::WRITE_ACTION_REJECT);
        v1::Rejection* rej = r->add_rejections();
        rej->set_rule("reconcile.duplicate.name_in_district");
        rej->set_fhir_path("Location.name");
        rej->set_value(f.name());
        rej->set_message("Likely duplicate: another facility has this name in the district");
      } else if (existing == openimis_.end()) {
        r->set_action(v1::WRITE_ACTION_CREATE);
      } else if (existing->second.name() == f.name() &&
                 existing->second.active() == f.active()) {
        r->set_action(v1::WRITE_ACTION_NOOP);
        *r->mutable_current() = existing->second;
      } else {
        r->set_action(v1::WRITE_ACTION_UPDATE);
        r->mutable_facility()->set_uuid(existing->second.uuid());
        *r->mutable_current() = existing->second;
      }
    }
    return resp;
  }

  absl::StatusOr<v1::RefreshIndexResponse> RefreshIndex(v1::RefreshMode mode,
                                                        CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++refreshes_;
    refresh_modes_.push_back(mode);
    v1::RefreshIndexResponse resp;
    resp.set_facilities(static_cast<int64_t>(openimis_.size()));
    return resp;
  }

  absl::StatusOr<v1::WriteFacilitiesResponse> WriteFacilities(
      const v1::WriteFacilitiesRequest& req, CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu_);
    v1::WriteFacilitiesResponse resp;
    for (const v1::WriteItem& item : req.items()) {
      v1::WriteResult* w = resp.add_results();
      w->set_record_key(item.record_key());
      w->set_attempts(1);
      if (fail_writes > 0) {
        --fail_writes;
        w->set_outcome(v1::WRITE_OUTCOME_FAILED);
        w->set_http_status(503);
        w->set_message("Service Unavailable");
        continue;
      }
      ++writes_;
      v1::HealthFacility f = item.facility();
      if (item.action() == v1::WRITE_ACTION_CREATE) {
        if (openimis_.count(f.code())) {
          w->set_outcome(v1::WRITE_OUTCOME_REJECTED);
          w->set_http_status(400);
          w->set_message(absl::StrCat("HF code ", f.code(), " already exists"));
          continue;
        }
        f.set_uuid(absl::StrCat("uuid-", f.code()));
        w->set_outcome(v1::WRITE_OUTCOME_CREATED);
      } else {
        w->set_outcome(v1::WRITE_OUTCOME_UPDATED);
      }
      w->set_uuid(f.uuid());
      openimis_[f.code()] = f;
    }
    return resp;
  }

  int refreshes_ = 0;
  std::vector<v1::RefreshMode> refresh_modes_;
  int max_concurrent_maps() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_concurrent_maps_;
  }

 private:
  int concurrent_maps_ = 0;
  int max_concurrent_maps_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  bool released_ = false;
  std::map<std::string, v1::SourceRecord> mfl_;
  std::map<std::string, int> versions_;
  std::map<std::string, v1::HealthFacility> openimis_;
  int writes_ = 0;
  v1::FetchChangesRequest last_fetch_;
};

}  // namespace mflsync::scheduler::testing

#endif  // MFLSYNC_TESTBED_PEERS_IN_MEMORY_PEERS_H_
