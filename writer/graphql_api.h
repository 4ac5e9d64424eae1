// OpenImisApi over openIMIS's GraphQL API (the location module's
// createHealthFacility / updateHealthFacility mutations, the
// healthFacilities and locations queries, core's mutationLogs): the path the
// released backend really accepts health-facility writes on.
#ifndef MFLSYNC_WRITER_GRAPHQL_API_H_
#define MFLSYNC_WRITER_GRAPHQL_API_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "writer/graphql_client.h"
#include "writer/openimis_api.h"
#include "writer/request_batcher.h"
#include "writer/server_clock.h"

namespace mflsync::writer {

// What one write's outcome poll asks: the outcome of its mutation (by
// clientMutationId) and, when it says which columns, the facility the code
// now names.
struct OutcomeAsk {
  std::string mutation_id;
  std::string code;
  // The write, for messages ("createHealthFacility of HF code X").
  std::string what;
  // The columns of the facility to read with the outcome (a GraphQL
  // selection; empty: the facility is not read).
  std::string columns;
};

// Outcome polls of every connection's writes, shared (RequestBatcher): one
// request carries each waiting write's mutationLogs (and facility) under
// aliases of its own; one answer object per ask.
using OutcomeBatcher = RequestBatcher<OutcomeAsk, nlohmann::json>;

// One health-facility mutation to send.
struct MutationAsk {
  const char* field;       // createHealthFacility or updateHealthFacility
  const char* input_type;  // its input's GraphQL type
  const nlohmann::json* input;
  std::string what;  // the write, for messages
};

// What became of one mutation in a shared request: sent and run (ok: its
// mutation log tells the outcome), refused or lost (status, as
// GraphqlClient::Execute reports a request of its own), or to be sent
// alone (the request was refused as a whole before anything ran, so which
// mutation openIMIS objected to is not known).
struct MutationAnswer {
  absl::Status status;
  int http_status = 0;
  bool send_alone = false;
};

// Mutations of every connection's writes, shared: one request carries
// several mutations as aliased fields, which openIMIS runs one after the
// other, each with its own mutation log (checked on the released server).
using MutationBatcher = RequestBatcher<MutationAsk, MutationAnswer>;

struct GraphqlApiOptions {
  // How long a mutation may stay "received" (mutation log status 0, e.g.
  // queued for a Celery worker) before the attempt counts as unknown.
  absl::Duration mutation_timeout = absl::Seconds(30);
  // First wait between mutation log polls; doubles up to 1 s.
  absl::Duration poll_interval = absl::Milliseconds(50);
  // A page of the index read (a query: safe to send again) that meets a
  // transient fault (UNAVAILABLE, a time-out) is tried up to this many times,
  // waiting page_backoff doubling to 5 s, before the load gives up; the load
  // goes on from that page, not from the first.
  int page_attempts = 5;
  absl::Duration page_backoff = absl::Milliseconds(200);
  // Each write's outcome poll reads every column of the stored facility
  // (complete_reads(): compared with what was sent). Off: a create reads its
  // uuid and validityFrom only, an update nothing (openIMIS stores a
  // mutation's input as sent).
  bool read_back = false;
  // The writes of several connections share mutation requests: at most
  // this many mutations per request (1: a request each) and this many
  // mutation requests out at once (match openIMIS's workers: openIMIS runs
  // one request's mutations one after the other).
  int mutations_per_request = 8;
  int mutation_requests_in_flight = 2;
};

// District uuid → openIMIS database id (the mutations' `locationId`),
// shared by every connection; thread-safe.
class DistrictIds {
 public:
  void Put(const std::string& uuid, int64_t id);
  std::optional<int64_t> Get(const std::string& uuid) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> ids_ ABSL_GUARDED_BY(mu_);
};

class GraphqlApi final : public OpenImisApi {
 public:
  // `clock` (may be null) learns openIMIS's time from each write's stored
  // validityFrom; `outcomes` and `mutations` (may be null: this connection
  // sends its own) gather the outcome polls and the mutations of every
  // connection's writes.
  GraphqlApi(std::shared_ptr<GraphqlSession> session, std::shared_ptr<DistrictIds> ids,
             GraphqlApiOptions options, std::shared_ptr<ServerClock> clock = nullptr,
             std::shared_ptr<OutcomeBatcher> outcomes = nullptr,
             std::shared_ptr<MutationBatcher> mutations = nullptr);

  std::string name() const override { return "GraphQL"; }
  bool complete_reads() const override { return options_.read_back; }
  absl::Status LoadIndex(SnapshotBuilder& builder, int page_size) override;
  bool incremental_reads() const override { return true; }
  absl::Status LoadChanges(SnapshotBuilder& builder, absl::Time since, int page_size,
                           int64_t* total) override;
  absl::StatusOr<std::optional<mflsync::v1::HealthFacility>> FindByCode(
      const std::string& code) override;
  WriteAttempt Create(const mflsync::v1::HealthFacility& facility) override;
  WriteAttempt Update(const mflsync::v1::HealthFacility& facility) override;

 private:
  // Sends one health-facility mutation and waits for its outcome.
  WriteAttempt Mutate(const char* field, const mflsync::v1::HealthFacility& facility);
  // One request carrying every mutation of `asks` as an aliased field (m0,
  // m1, …); one answer per ask (MutationAnswer), never an error for all.
  std::vector<MutationAnswer> SendMutations(const std::vector<MutationAsk>& asks);
  // Polls mutationLogs(clientMutationId) to a final status (and reads the
  // facility by code in the same request, which other writes' polls may
  // share: OutcomeBatcher); kUnknown past the bound.
  // `lost` (not empty) is the fault that lost the mutation's answer: no
  // log then means openIMIS never received it (kNotHandled).
  WriteAttempt AwaitOutcome(const OutcomeAsk& ask, const std::string& lost);
  // What the poll of mutation `mutation_id` (`field`, a create or not) of
  // `facility` asks: every column with read_back, else a create's uuid and
  // validityFrom, an update's outcome alone; its `what` names the write.
  OutcomeAsk AskFor(const char* field, bool create,
                    const mflsync::v1::HealthFacility& facility, std::string mutation_id) const;
  // One request asking the mutation log and the facility of every ask, as
  // aliased fields; one {mutationLogs, healthFacilities} object per ask.
  absl::StatusOr<std::vector<nlohmann::json>> PollOutcomes(const std::vector<OutcomeAsk>& asks);
  // One page of a query, tried again on a transient fault
  // (GraphqlApiOptions::page_attempts).
  absl::StatusOr<nlohmann::json> ReadPage(const std::string& where, const char* document,
                                          const nlohmann::json& variables);
  // Every page of `field` (a connection) with `variables`, node by node,
  // until `visit` answers false; `total` (when not null) gets the first
  // page's totalCount.
  absl::Status ForEachNode(const std::string& what, const char* document,
                           const char* field, nlohmann::json variables, int page_size,
                           const std::function<absl::StatusOr<bool>(const nlohmann::json&)>& visit,
                           int64_t* total = nullptr);
  // Every area of type R, then D.
  absl::Status LoadAreas(SnapshotBuilder& builder, int page_size);
  absl::StatusOr<int64_t> DistrictId(const std::string& uuid);

  GraphqlClient client_;
  std::shared_ptr<DistrictIds> ids_;
  GraphqlApiOptions options_;
  std::shared_ptr<ServerClock> clock_;
  std::shared_ptr<OutcomeBatcher> outcomes_;
  std::shared_ptr<MutationBatcher> mutations_;
};

// One MutationAnswer per ask from `answer` to their shared request (fields
// m0, m1, …; `http_status` its HTTP status). A request refused as a whole
// ran nothing (HTTP 400, or errors and no field answered: so the released
// server does), so each of several mutations is to be sent alone to learn
// which one openIMIS objects to, and one alone gets the refusal. Otherwise
// each answered field ran (its mutation log tells the outcome) and a field
// that an error names was refused.
std::vector<MutationAnswer> MutationAnswers(const std::vector<MutationAsk>& asks,
                                            const absl::StatusOr<nlohmann::json>& answer,
                                            int http_status);

// A healthFacilities node → HealthFacility (uuid, code, name, level, care
// type, legal form, district uuid + code, address, contacts, active), or an
// error naming the missing element.
absl::StatusOr<mflsync::v1::HealthFacility> FacilityFromGraphql(const nlohmann::json& node);

// A node's validityFrom (openIMIS's naive server time, with or without
// microseconds), read as UTC; an error names the text.
absl::StatusOr<absl::Time> ValidityFrom(const nlohmann::json& node);

// A locations node → Area (uuid, code, name, type, parent uuid, id).
absl::StatusOr<Area> AreaFromGraphql(const nlohmann::json& node);

// The mutation input for `facility`: every column the writer owns, so that
// an update (which replaces the whole record) keeps nothing stale.
nlohmann::json FacilityInput(const mflsync::v1::HealthFacility& facility,
                             int64_t district_id);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_GRAPHQL_API_H_
