#include "writer/facility_writer.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/log.h"
#include "writer/facility_identity.h"
#include "writer/openimis_fhir.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using mflsync::v1::WriteFacilitiesRequest;
using mflsync::v1::WriteFacilitiesResponse;
using mflsync::v1::WriteItem;
using mflsync::v1::WriteResult;
using Kind = WriteAttempt::Kind;

WriteResult Result(const std::string& record_key, mflsync::v1::WriteOutcome outcome,
                   std::string message) {
  WriteResult result;
  result.set_record_key(record_key);
  result.set_outcome(outcome);
  result.set_message(Redact(message));
  return result;
}

WriteResult Unchanged(const WriteItem& item) {
  WriteResult result = Result(item.record_key(), mflsync::v1::WRITE_OUTCOME_UNCHANGED,
                              "no change: openIMIS already holds this facility");
  result.set_uuid(item.facility().uuid());
  return result;
}

}  // namespace

ConnectionPool::ConnectionPool(const OpenImisApiFactory& make, int size) {
  size = std::max(1, size);
  for (int i = 0; i < size; ++i) clients_.push_back(make());
  absl::MutexLock lock(&mu_);
  for (auto& client : clients_) free_.push_back(client.get());
}

ConnectionPool::Lease ConnectionPool::Acquire() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::vector<OpenImisApi*>* free) { return !free->empty(); }, &free_));
  OpenImisApi* client = free_.back();
  free_.pop_back();
  return Lease(this, client);
}

ConnectionPool::Lease::~Lease() {
  if (client_ == nullptr) return;
  absl::MutexLock lock(&pool_->mu_);
  pool_->free_.push_back(client_);
}

std::unique_ptr<CodeLocks::Held> CodeLocks::Lock(const std::string& code) {
  absl::MutexLock lock(&mu_);
  struct Args {
    std::set<std::string>* held;
    const std::string* code;
  } args{&held_, &code};
  mu_.Await(absl::Condition(
      +[](Args* a) { return a->held->count(*a->code) == 0; }, &args));
  held_.insert(code);
  return std::make_unique<Held>(this, code);
}

CodeLocks::Held::~Held() {
  absl::MutexLock lock(&locks_->mu_);
  locks_->held_.erase(code_);
}

FacilityWriter::FacilityWriter(ConnectionPool* pool, FacilityIndex* index,
                               FacilityWriterOptions options)
    : pool_(pool), index_(index), options_(options) {
  options_.retry.max_attempts = std::max(1, options_.retry.max_attempts);
}

WriteFacilitiesResponse FacilityWriter::Write(const WriteFacilitiesRequest& request) {
  const int n = request.items_size();
  std::vector<WriteResult> results(n);
  // Items sharing an HF code go to one worker, in order, so that two writes
  // of one facility never race each other.
  std::vector<std::vector<int>> groups;
  std::map<std::string, size_t> group_of_code;
  for (int i = 0; i < n; ++i) {
    if (request.items(i).action() == mflsync::v1::WRITE_ACTION_NOOP) {
      results[i] = Unchanged(request.items(i));  // no call
      continue;
    }
    const std::string& code = request.items(i).facility().code();
    if (code.empty()) {
      groups.push_back({i});
      continue;
    }
    auto [it, inserted] = group_of_code.emplace(code, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::atomic<size_t> next{0};
  auto work = [&]() {
    std::optional<ConnectionPool::Lease> lease;
    for (size_t g = next++; g < groups.size(); g = next++) {
      for (int i : groups[g]) {
        const WriteItem& item = request.items(i);
        if (!lease.has_value()) lease.emplace(pool_->Acquire());
        results[i] = WriteOne(**lease, item);
      }
    }
  };
  const int workers = static_cast<int>(
      std::min<size_t>(groups.size(), static_cast<size_t>(pool_->size())));
  std::vector<std::thread> threads;
  for (int w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  WriteFacilitiesResponse response;
  for (WriteResult& result : results) *response.add_results() = std::move(result);
  return response;
}

WriteResult FacilityWriter::WriteOne(OpenImisApi& api, const WriteItem& item) {
  const std::string& key = item.record_key();
  HealthFacility facility = item.facility();
  switch (item.action()) {
    case mflsync::v1::WRITE_ACTION_NOOP:
      return Unchanged(item);
    case mflsync::v1::WRITE_ACTION_CREATE:
    case mflsync::v1::WRITE_ACTION_UPDATE:
      break;
    default:
      return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                    absl::StrCat("write item ", key, ": action ",
                                 mflsync::v1::WriteAction_Name(item.action()),
                                 " cannot be written (expected CREATE, UPDATE or NOOP)"));
  }
  if (facility.code().empty()) {
    return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                  absl::StrCat("write item ", key, ": the facility has no HF code"));
  }
  if (facility.district_uuid().empty() && !facility.district_code().empty()) {
    std::optional<mflsync::v1::District> district =
        index_->DistrictByCode(facility.district_code());
    if (district.has_value()) facility.set_district_uuid(district->uuid());
  }
  if (facility.district_uuid().empty()) {
    return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                  absl::StrCat("write item ", key, " (HF code ", facility.code(),
                               "): no district: district_uuid is empty and district "
                               "code '", facility.district_code(),
                               "' is not an openIMIS district"));
  }
  if (facility.district_code().empty()) {
    std::optional<mflsync::v1::District> district =
        index_->DistrictByUuid(facility.district_uuid());
    if (district.has_value()) facility.set_district_code(district->code());
  }
  if (item.action() == mflsync::v1::WRITE_ACTION_UPDATE) {
    if (facility.uuid().empty()) {
      return Result(key, mflsync::v1::WRITE_OUTCOME_REJECTED,
                    absl::StrCat("write item ", key, " (HF code ", facility.code(),
                                 "): UPDATE needs the facility's openIMIS uuid"));
    }
    return Update(api, key, std::move(facility));
  }
  facility.clear_uuid();
  return Create(api, key, std::move(facility));
}

void FacilityWriter::Backoff(int attempt, absl::Duration retry_after) {
  absl::Duration wait =
      ExponentialBackoff(options_.retry.initial_backoff, options_.retry.max_backoff, attempt);
  thread_local absl::BitGen gen;
  wait = wait / 2 + absl::Nanoseconds(absl::Uniform<int64_t>(
                        gen, 0, std::max<int64_t>(1, absl::ToInt64Nanoseconds(wait / 2))));
  if (retry_after > wait) wait = std::min(retry_after, options_.retry.max_backoff);
  absl::SleepFor(wait);
}

void FacilityWriter::Written(const OpenImisApi& api, const HealthFacility& sent,
                             const std::optional<HealthFacility>& held, WriteResult* result) {
  HealthFacility stored = sent;
  if (held.has_value() && !held->uuid().empty()) stored.set_uuid(held->uuid());
  // Only a read-back of every column (GraphQL) can be compared with what
  // was sent; otherwise the index takes what was sent, with the uuid.
  if (held.has_value() && api.complete_reads()) {
    HealthFacility read_back = *held;
    if (read_back.district_code().empty()) read_back.set_district_code(sent.district_code());
    if (!SameContent(read_back, stored)) {
      result->set_message(Redact(absl::StrCat(
          result->message(), "; openIMIS stored it differently from what was sent (",
          Describe(read_back), "): the index keeps what openIMIS holds")));
      LogWarning("openIMIS stored a facility differently", {{"code", sent.code()}});
    }
    stored = std::move(read_back);
  }
  result->set_uuid(stored.uuid());
  if (!stored.uuid().empty()) index_->Put(stored);
}

void FacilityWriter::Unfinished(absl::string_view done, absl::string_view problem,
                                const std::optional<HealthFacility>& held,
                                WriteResult* result) {
  result->set_outcome(mflsync::v1::WRITE_OUTCOME_FAILED);
  result->set_message(Redact(absl::StrCat(
      done, ", but ", problem,
      ": openIMIS does not hold it as sent, so it is retried (the index keeps what it had)")));
  if (held.has_value() && !held->uuid().empty()) result->set_uuid(held->uuid());
}

// One create, from its first attempt to a known outcome: an attempt whose
// answer is unknown is followed by a look-up by code before anything is
// sent again, and a facility found with the code is ours (the same name and
// district: created by an attempt whose answer was lost) or another one.
class FacilityWriter::Creation {
 public:
  Creation(FacilityWriter& writer, OpenImisApi& api, const std::string& key,
           HealthFacility facility)
      : writer_(writer),
        api_(api),
        facility_(std::move(facility)),
        what_(absl::StrCat("create of HF code ", facility_.code())),
        result_(Result(key, mflsync::v1::WRITE_OUTCOME_FAILED, "")) {}

  WriteResult Run() {
    if (std::optional<WriteResult> known = AlreadyIndexed()) return *known;
    const int max_attempts = writer_.options_.retry.max_attempts;
    bool unknown = false;  // an attempt may have been committed without an answer
    int attempt_no = 0;
    while (attempt_no < max_attempts) {
      if (unknown) {
        ++attempt_no;
        result_.set_attempts(result_.attempts() + 1);
        absl::StatusOr<std::optional<HealthFacility>> found = api_.FindByCode(facility_.code());
        if (!found.ok()) {
          last_error_ = absl::StrCat(last_error_, "; lookup by code failed: ",
                                     found.status().message());
          writer_.Backoff(attempt_no, absl::ZeroDuration());
          continue;
        }
        if (found->has_value()) return Resolve(**found);
        unknown = false;  // not committed: sending it again is safe
        if (attempt_no >= max_attempts) break;
      }
      ++attempt_no;
      result_.set_attempts(result_.attempts() + 1);
      WriteAttempt attempt = api_.Create(facility_);
      if (std::optional<WriteResult> done = Take(attempt, &unknown)) return *done;
      if (attempt_no < max_attempts) writer_.Backoff(attempt_no, attempt.retry_after);
    }
    return GiveUp(unknown);
  }

 private:
  // The index already holds the code: a write whose answer was lost
  // earlier, or another facility. Never create a second one.
  std::optional<WriteResult> AlreadyIndexed() {
    std::optional<HealthFacility> known = writer_.index_->ByCode(facility_.code());
    if (!known.has_value()) return std::nullopt;
    facility_.set_uuid(known->uuid());
    const bool same = SameContent(*known, facility_);
    WriteResult result = Result(
        result_.record_key(),
        same ? mflsync::v1::WRITE_OUTCOME_UNCHANGED : mflsync::v1::WRITE_OUTCOME_REJECTED,
        same ? absl::StrCat(what_, ": openIMIS already holds it as ", Describe(*known),
                            " with this content")
             : absl::StrCat(what_, ": openIMIS already has HF code ", facility_.code(), " as ",
                            Describe(*known),
                            "; reconcile the record again (update that uuid)"));
    result.set_uuid(known->uuid());
    return result;
  }

  // The outcome of one attempt, when it ends the create; sets `unknown`
  // when openIMIS may have committed it without saying so.
  std::optional<WriteResult> Take(WriteAttempt& attempt, bool* unknown) {
    result_.set_http_status(attempt.http_status);
    last_error_ = attempt.message;
    switch (attempt.kind) {
      case Kind::kWritten:
        return Created(attempt);
      case Kind::kDuplicateCode: {
        // Ours when a lost earlier attempt committed, another facility otherwise.
        absl::StatusOr<std::optional<HealthFacility>> found = api_.FindByCode(facility_.code());
        last_error_ = absl::StrCat("openIMIS refused a create as a duplicate code: ",
                                   attempt.message);
        if (found.ok() && found->has_value()) return Resolve(**found);
        return Finish(mflsync::v1::WRITE_OUTCOME_REJECTED, absl::StrCat(what_, ": ", last_error_));
      }
      case Kind::kRefused:
        return Finish(mflsync::v1::WRITE_OUTCOME_REJECTED,
                      absl::StrCat(what_, ": openIMIS refused it (", attempt.message, ")"));
      case Kind::kFatal:
        return Finish(mflsync::v1::WRITE_OUTCOME_FAILED,
                      absl::StrCat(what_, ": ", attempt.message));  // no retry
      case Kind::kNotHandled:
        return std::nullopt;
      case Kind::kUnknown:
        *unknown = true;
        return std::nullopt;
    }
    return std::nullopt;
  }

  WriteResult Created(WriteAttempt& attempt) {
    if (!attempt.incomplete.empty()) {
      Unfinished(absl::StrCat(what_, ": created (", attempt.message, ")"), attempt.incomplete,
                 attempt.stored, &result_);
      return result_;
    }
    result_.set_outcome(mflsync::v1::WRITE_OUTCOME_CREATED);
    result_.set_message(Redact(absl::StrCat(what_, ": created (", attempt.message, ")")));
    if (!attempt.stored.has_value() || attempt.stored->uuid().empty()) {
      // Committed, but the answer does not say where: find it by code.
      absl::StatusOr<std::optional<HealthFacility>> found = api_.FindByCode(facility_.code());
      if (found.ok() && found->has_value()) attempt.stored = **found;
    }
    writer_.Written(api_, facility_, attempt.stored, &result_);
    return result_;
  }

  // A facility with this code found by a look-up.
  WriteResult Resolve(const HealthFacility& found) {
    result_.set_uuid(found.uuid());
    if (!SameIdentity(found, facility_)) {
      return Finish(mflsync::v1::WRITE_OUTCOME_REJECTED,
                    absl::StrCat(what_, ": openIMIS already has HF code ", facility_.code(),
                                 " as ", Describe(found), "; reconcile the record again",
                                 last_error_.empty() ? "" : " (", last_error_,
                                 last_error_.empty() ? "" : ")"));
    }
    const std::string done = absl::StrCat(
        what_, ": created once (", last_error_,
        "); a lookup by code found the facility with this name and district, so it "
        "was not sent again");
    HealthFacility wanted = facility_;
    wanted.set_uuid(found.uuid());
    if (absl::Status finished = api_.FinishWrite(wanted); !finished.ok()) {
      Unfinished(done, finished.message(), found, &result_);
      return result_;
    }
    result_.set_outcome(mflsync::v1::WRITE_OUTCOME_CREATED);
    result_.set_message(Redact(done));
    writer_.Written(api_, facility_, found, &result_);
    return result_;
  }

  // Out of attempts: one last look-up after an unknown outcome, so that the
  // outcome is known whenever openIMIS answers.
  WriteResult GiveUp(bool unknown) {
    if (unknown) {
      result_.set_attempts(result_.attempts() + 1);
      absl::StatusOr<std::optional<HealthFacility>> found = api_.FindByCode(facility_.code());
      if (found.ok() && found->has_value()) return Resolve(**found);
      if (found.ok()) {
        absl::StrAppend(&last_error_, "; a lookup by code found no facility, so none was created");
      } else {
        absl::StrAppend(&last_error_, "; the outcome is unknown (lookup by code failed: ",
                        found.status().message(),
                        "); the next index refresh finds the facility if it was created");
      }
    }
    return Finish(mflsync::v1::WRITE_OUTCOME_FAILED,
                  absl::StrCat(what_, ": failed after ", result_.attempts(),
                               " attempts: ", last_error_));
  }

  WriteResult Finish(mflsync::v1::WriteOutcome outcome, absl::string_view message) {
    result_.set_outcome(outcome);
    result_.set_message(Redact(message));
    return result_;
  }

  FacilityWriter& writer_;
  OpenImisApi& api_;
  HealthFacility facility_;
  const std::string what_;
  WriteResult result_;
  std::string last_error_;
};

WriteResult FacilityWriter::Create(OpenImisApi& api, const std::string& key,
                                   HealthFacility facility) {
  std::unique_ptr<CodeLocks::Held> held = code_locks_.Lock(facility.code());
  return Creation(*this, api, key, std::move(facility)).Run();
}

WriteResult FacilityWriter::Update(OpenImisApi& api, const std::string& key,
                                   HealthFacility facility) {
  const std::string what =
      absl::StrCat("update of HF code ", facility.code(), " (uuid ", facility.uuid(), ")");
  std::unique_ptr<CodeLocks::Held> held = code_locks_.Lock(facility.code());
  WriteResult result = Result(key, mflsync::v1::WRITE_OUTCOME_FAILED, "");
  result.set_uuid(facility.uuid());
  std::string last_error;
  for (int attempt_no = 1; attempt_no <= options_.retry.max_attempts; ++attempt_no) {
    result.set_attempts(attempt_no);
    // The update carries the whole record: repeating it after a lost answer
    // writes the same content again, never an older one.
    WriteAttempt attempt = api.Update(facility);
    result.set_http_status(attempt.http_status);
    last_error = attempt.message;
    switch (attempt.kind) {
      case Kind::kWritten:
        if (!attempt.incomplete.empty()) {
          Unfinished(absl::StrCat(what, ": updated (", attempt.message, ")"),
                     attempt.incomplete, attempt.stored, &result);
          return result;
        }
        result.set_outcome(mflsync::v1::WRITE_OUTCOME_UPDATED);
        result.set_message(Redact(absl::StrCat(what, ": updated (", attempt.message, ")")));
        Written(api, facility, attempt.stored, &result);
        return result;
      case Kind::kRefused:
      case Kind::kDuplicateCode:
        result.set_outcome(mflsync::v1::WRITE_OUTCOME_REJECTED);
        result.set_message(Redact(absl::StrCat(what, ": openIMIS refused it (",
                                               attempt.message, ")")));
        return result;
      case Kind::kFatal:
        result.set_message(Redact(absl::StrCat(what, ": ", attempt.message)));
        return result;
      case Kind::kNotHandled:
      case Kind::kUnknown:
        break;
    }
    if (attempt_no < options_.retry.max_attempts) Backoff(attempt_no, attempt.retry_after);
  }
  result.set_outcome(mflsync::v1::WRITE_OUTCOME_FAILED);
  result.set_message(Redact(absl::StrCat(what, ": failed after ", result.attempts(),
                                         " attempts: ", last_error)));
  return result;
}

}  // namespace mflsync::writer
