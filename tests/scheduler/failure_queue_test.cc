#include "scheduler/failure_queue.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "scheduler/raw_record_json.h"
#include "scheduler/state_db.h"
#include "tests/scheduler/test_util.h"

namespace mflsync::scheduler {
namespace {

using testing::Done;
using testing::Parked;
using testing::TestRecord;

class FailureQueueTest : public testing::StateDbTest {
 protected:
  void Open(RetryPolicy retry = {}) {
    db_ = OpenDb();
    ASSERT_NE(db_, nullptr);
    queue_ = std::make_unique<FailureQueue>(*db_, retry);
  }
  absl::Status Record(const std::string& run_id, const std::vector<RecordOutcome>& outcomes,
                      absl::Time now) {
    return InTransaction(*db_, [&] { return queue_->Record("kenya", run_id, outcomes, now); });
  }
  std::vector<v1::Failure> List(v1::FailureState state = v1::FAILURE_STATE_OPEN) {
    std::string next;
    absl::StatusOr<std::vector<v1::Failure>> f = queue_->List("", state, 1000, "", &next);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : std::vector<v1::Failure>{};
  }

  const absl::Time now_ = absl::FromUnixSeconds(1000000);
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<FailureQueue> queue_;
};

TEST_F(FailureQueueTest, CreatedByCountsOnlyTheEntriesARunCreated) {
  Open();
  std::vector<RecordOutcome> first;
  for (int i = 0; i < 3; ++i)
    first.push_back(Parked(TestRecord(absl::StrCat("loc-", i), "1", 100 + i), false, "bad"));
  ASSERT_TRUE(Record("run-1", first, now_).ok());
  const absl::Time later = now_ + absl::Hours(1);
  std::vector<RecordOutcome> second = {
      Parked(TestRecord("loc-1", "2", 200), false, "still bad"),  // parked again
      Parked(TestRecord("loc-7", "1", 201), true, "timeout"),
      Parked(TestRecord("loc-8", "1", 202), false, "bad")};
  ASSERT_TRUE(Record("run-2", second, later).ok());
  absl::StatusOr<NewFailures> created = queue_->CreatedBy("run-2", later, 1);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->count, 2);
  ASSERT_EQ(created->first.size(), 1u);
  EXPECT_EQ(created->first[0].location_id(), "loc-7");
  absl::StatusOr<NewFailures> by_first = queue_->CreatedBy("run-1", now_, 10);
  ASSERT_TRUE(by_first.ok());
  EXPECT_EQ(by_first->count, 2);  // loc-1 now belongs to run-2's parking
  absl::StatusOr<NewFailures> none = queue_->CreatedBy("run-3", later, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->count, 0);
  EXPECT_TRUE(none->first.empty());
}

TEST_F(FailureQueueTest, OpenEntriesListPageByPageInIdOrder) {
  Open();
  std::vector<RecordOutcome> parked;
  for (int i = 0; i < 5; ++i)
    parked.push_back(Parked(TestRecord(absl::StrCat("loc-", i), "1", 100 + i), false, "bad"));
  ASSERT_TRUE(Record("run-1", parked, now_).ok());
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    std::string next;
    absl::StatusOr<std::vector<v1::Failure>> page =
        queue_->List("kenya", v1::FAILURE_STATE_OPEN, 2, token, &next);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->size(), 2u);
    for (const v1::Failure& f : *page) seen.push_back(f.location_id());
    token = next;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"loc-0", "loc-1", "loc-2", "loc-3", "loc-4"}));
  std::string next;
  EXPECT_EQ(queue_->List("kenya", v1::FAILURE_STATE_OPEN, 2, "not-a-token", &next).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(queue_->List("other", v1::FAILURE_STATE_OPEN, 2, "", &next)->empty());
}

TEST_F(FailureQueueTest, AParkedLocationHasOneEntryUntilAVersionReachesOpenImis) {
  Open(RetryPolicy{absl::Seconds(10), absl::Seconds(40), 4});
  auto x1 = TestRecord("x", "1", 100);
  ASSERT_TRUE(Record("run-1", {Parked(x1, false, "type unknown")}, now_).ok());
  auto open = List();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].location_id(), "x");
  EXPECT_EQ(open[0].attempts(), 1);
  EXPECT_FALSE(open[0].transient());
  EXPECT_FALSE(open[0].has_next_attempt_at());
  EXPECT_TRUE(open[0].raw_json().empty());  // only Get returns it
  auto full = queue_->Get(open[0].failure_id());
  ASSERT_TRUE(full.ok());
  EXPECT_NE(full->raw_json().find("\"organization\""), std::string::npos) << full->raw_json();
  EXPECT_NE(full->raw_json().find("\"Location\""), std::string::npos);
  EXPECT_EQ(queue_->Get(12345).status().code(), absl::StatusCode::kNotFound);

  // A newer version of the same Location failing again updates the entry.
  auto x2 = TestRecord("x", "2", 200);
  ASSERT_TRUE(Record("run-2", {Parked(x2, false, "still unknown")}, now_).ok());
  open = List();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].version_id(), "2");
  EXPECT_EQ(open[0].attempts(), 2);
  EXPECT_EQ(open[0].reason(), "still unknown");
  EXPECT_EQ(open[0].run_id(), "run-2");
  EXPECT_EQ(queue_->OpenIds("kenya", {"x", "y"})->size(), 1u);
  EXPECT_EQ(queue_->OpenIds("kenya", {"x"})->at("x"), open[0].failure_id());

  // An older version reaching openIMIS does not resolve it; the version does.
  ASSERT_TRUE(Record("run-3", {Done(x1, JournalState::kWritten)}, now_).ok());
  EXPECT_EQ(List().size(), 1u);
  ASSERT_TRUE(Record("run-4", {Done(x2, JournalState::kWritten)}, now_).ok());
  EXPECT_TRUE(List().empty());
  auto resolved = List(v1::FAILURE_STATE_RESOLVED);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].resolution(), "written to openIMIS (version 2, run run-4)");
  EXPECT_TRUE(queue_->OpenIds("kenya", {"x"})->empty());
}

TEST_F(FailureQueueTest, UnchangedAndStaleVersionsResolveToo) {
  Open();
  ASSERT_TRUE(Record("run-1",
                     {Parked(TestRecord("u", "1", 100), false, "bad"),
                      Parked(TestRecord("s", "1", 100), false, "bad")},
                     now_)
                  .ok());
  ASSERT_TRUE(Record("run-2",
                     {Done(TestRecord("u", "", 100), JournalState::kUnchanged),
                      Done(TestRecord("s", "1", 100), JournalState::kStale)},
                     now_)
                  .ok());
  auto resolved = List(v1::FAILURE_STATE_RESOLVED);
  ASSERT_EQ(resolved.size(), 2u);
  EXPECT_EQ(resolved[0].resolution(), "openIMIS already held it (version -, run run-2)");
  EXPECT_EQ(resolved[1].resolution(),
            "superseded: openIMIS holds a newer version (version 1, run run-2)");
}

TEST_F(FailureQueueTest, ListPagesInEntryOrder) {
  Open();
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(Record("run-1", {Parked(TestRecord(id, "1", 100), false, "bad")}, now_).ok());
  }
  std::string next;
  auto page = queue_->List("kenya", v1::FAILURE_STATE_UNSPECIFIED, 2, "", &next);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].location_id(), "a");
  ASSERT_FALSE(next.empty());
  page = queue_->List("kenya", v1::FAILURE_STATE_OPEN, 2, next, &next);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].location_id(), "c");
  EXPECT_TRUE(next.empty());
  EXPECT_TRUE(queue_->List("other", v1::FAILURE_STATE_OPEN, 2, "", &next)->empty());
  EXPECT_FALSE(queue_->List("", v1::FAILURE_STATE_OPEN, 2, "x", &next).ok());
}

TEST_F(FailureQueueTest, RetrySelectionByIdOrAllOpen) {
  Open();
  ASSERT_TRUE(Record("run-1", {Parked(TestRecord("x", "2", 200), false, "bad")}, now_).ok());
  const int64_t id = List()[0].failure_id();
  auto to_retry = queue_->ToRetry({id}, "");
  ASSERT_TRUE(to_retry.ok());
  ASSERT_EQ(to_retry->size(), 1u);
  EXPECT_EQ((*to_retry)[0].first.failure_id(), id);
  EXPECT_EQ((*to_retry)[0].second.version_id(), "2");
  EXPECT_EQ(queue_->ToRetry({12345}, "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(queue_->ToRetry({}, "kenya")->size(), 1u);
  EXPECT_EQ(queue_->ToRetry({}, "")->size(), 1u);
  EXPECT_EQ(queue_->ToRetry({}, "other")->size(), 0u);
  ASSERT_TRUE(Record("run-2", {Done(TestRecord("x", "2", 200), JournalState::kWritten)}, now_)
                  .ok());
  absl::Status resolved = queue_->ToRetry({id}, "").status();
  EXPECT_EQ(resolved.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(resolved.message().find("is resolved"), std::string::npos) << resolved;
}

// The administrator's copy of a huge record is bounded; the retry copy is
// whole.
TEST_F(FailureQueueTest, TheRawCopyOfAHugeRecordIsBounded) {
  Open();
  auto big = TestRecord("big", "1", 100);
  big.set_location_json(absl::StrCat(R"({"resourceType":"Location","id":"big","description":")",
                                     std::string(600000, 'x'), R"("})"));
  ASSERT_TRUE(Record("run-1", {Parked(big, false, "too big")}, now_).ok());
  auto open = List();
  ASSERT_EQ(open.size(), 1u);
  auto shown = queue_->Get(open[0].failure_id());
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_LE(shown->raw_json().size(), kMaxRawJson + 100);
  EXPECT_NE(shown->raw_json().find("...(cut: "), std::string::npos);
  auto retry = queue_->ToRetry({open[0].failure_id()}, "kenya");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_EQ(retry->size(), 1u);
  EXPECT_EQ((*retry)[0].second.location_json(), big.location_json());
}

TEST_F(FailureQueueTest, TransientFailuresBackOffAndStop) {
  Open(RetryPolicy{absl::Seconds(10), absl::Seconds(25), 3});
  const absl::Time t = now_;
  auto z = TestRecord("z", "1", 100);
  ASSERT_TRUE(Record("run-1", {Parked(z, true, "503")}, t).ok());
  EXPECT_TRUE(queue_->DueRetries(t + absl::Seconds(9))->empty());
  auto due = queue_->DueRetries(t + absl::Seconds(10));
  ASSERT_EQ(due->size(), 1u);
  int64_t id = due->at("kenya")[0];
  RecordOutcome again = Parked(z, true, "503");
  again.failure_id = id;
  ASSERT_TRUE(Record("run-2", {again}, t).ok());
  EXPECT_TRUE(queue_->DueRetries(t + absl::Seconds(19))->empty());  // 2nd wait: 20s
  EXPECT_EQ(queue_->DueRetries(t + absl::Seconds(20))->size(), 1u);
  ASSERT_TRUE(Record("run-3", {again}, t).ok());
  // Third attempt reached max_attempts: no automatic retry any more.
  EXPECT_TRUE(queue_->DueRetries(t + absl::Hours(10))->empty());
  auto f = queue_->Get(id);
  EXPECT_EQ(f->attempts(), 3);
  EXPECT_TRUE(f->transient());
  EXPECT_FALSE(f->has_next_attempt_at());
  EXPECT_EQ(f->reason(), "503 (automatic retries stopped after 3 attempts; retry it by hand)");
}

TEST_F(FailureQueueTest, ARetriedRecordUpdatesTheEntryItCameFrom) {
  Open();
  ASSERT_TRUE(Record("run-1", {Parked(TestRecord("x", "1", 100), false, "bad")}, now_).ok());
  const int64_t id = List()[0].failure_id();
  // Dismissed meanwhile: a retry of it opens a new entry.
  ASSERT_TRUE(InTransaction(*db_, [&] { return queue_->Dismiss({id}, "", now_); }).ok());
  RecordOutcome retried = Parked(TestRecord("x", "1", 100), false, "still bad");
  retried.failure_id = id;
  ASSERT_TRUE(Record("run-2", {retried}, now_).ok());
  auto open = List();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].failure_id(), id);
  EXPECT_EQ(open[0].attempts(), 1);
  retried.failure_id = open[0].failure_id();
  ASSERT_TRUE(Record("run-3", {retried}, now_).ok());
  EXPECT_EQ(List()[0].attempts(), 2);
}

TEST_F(FailureQueueTest, DismissChangesOnlyOpenEntries) {
  Open();
  ASSERT_TRUE(Record("run-4", {Parked(TestRecord("y", "1", 300), false, "bad")}, now_).ok());
  const int64_t yid = List()[0].failure_id();
  auto dismiss = [&](std::vector<int64_t> ids, const std::string& reason) {
    return InTransaction(*db_, [&] { return queue_->Dismiss(ids, reason, now_); });
  };
  EXPECT_EQ(dismiss({yid, 999}, "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(List().size(), 1u) << "an unknown id changes nothing";
  EXPECT_EQ(*dismiss({yid}, "closed facility"), 1);
  EXPECT_EQ(*dismiss({yid}, "again"), 0);
  auto dismissed = List(v1::FAILURE_STATE_DISMISSED);
  ASSERT_EQ(dismissed.size(), 1u);
  EXPECT_EQ(dismissed[0].resolution(), "dismissed by an administrator: closed facility");
  EXPECT_FALSE(dismissed[0].has_next_attempt_at());
}

}  // namespace
}  // namespace mflsync::scheduler
