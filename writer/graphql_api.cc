#include "writer/graphql_api.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/backoff.h"
#include "common/json_access.h"
#include "common/log.h"
#include "writer/openimis_fhir.h"

namespace mflsync::writer {
namespace {

using mflsync::v1::HealthFacility;
using nlohmann::json;
using Kind = WriteAttempt::Kind;

// After a lost answer, how long a missing mutation log is awaited before
// the mutation counts as never received.
constexpr absl::Duration kNotReceivedGrace = absl::Seconds(2);

// The columns the writer reads back: one fragment for every query.
#define MFLSYNC_HF_FIELDS                                                        \
  "uuid code name level careType status address phone fax email validityFrom "  \
  "legalForm { code } location { id uuid code }"

constexpr char kAreasQuery[] =
    "query mflsyncAreas($type: String, $first: Int, $after: String) {"
    " locations(type: $type, first: $first, after: $after, orderBy: [\"id\"]) {"
    " pageInfo { hasNextPage endCursor }"
    " edges { node { id uuid code name type parent { uuid } } } } }";

constexpr char kFacilitiesQuery[] =
    "query mflsyncFacilities($first: Int, $after: String) {"
    " healthFacilities(first: $first, after: $after, orderBy: [\"id\"]) {"
    " pageInfo { hasNextPage endCursor }"
    " edges { node { " MFLSYNC_HF_FIELDS " } } } }";

// Newest change first (an update moves validityFrom and keeps the uuid);
// id breaks ties so that the offset cursors page a stable order.
constexpr char kChangedQuery[] =
    "query mflsyncChanged($first: Int, $after: String) {"
    " healthFacilities(first: $first, after: $after, orderBy: [\"-validityFrom\", \"id\"]) {"
    " totalCount pageInfo { hasNextPage endCursor }"
    " edges { node { " MFLSYNC_HF_FIELDS " } } } }";

constexpr char kByCodeQuery[] =
    "query mflsyncByCode($code: String!) {"
    " healthFacilities(code: $code, first: 10) { edges { node { " MFLSYNC_HF_FIELDS
    " } } } }";

// A write's part of an outcome poll: its mutation log and, when `columns`
// are asked, the facility its code names, under aliases numbered by the
// ask's place in the poll.
std::string OutcomeFields(size_t i, const std::string& columns) {
  std::string fields = absl::StrCat(" l", i, ": mutationLogs(clientMutationId: $id", i,
                                    ") { edges { node { status error } } }");
  if (!columns.empty()) {
    absl::StrAppend(&fields, " f", i, ": healthFacilities(code: $code", i,
                    ", first: 10) { edges { node { ", columns, " } } }");
  }
  return fields;
}

// What a create's poll reads when the whole row is not asked: where the
// facility is (openIMIS's answer has no uuid) and when it was stored.
constexpr char kCreatedColumns[] = "uuid code validityFrom";

constexpr char kDistrictIdQuery[] =
    "query mflsyncDistrictId($uuid: String!) {"
    " locations(uuid: $uuid, first: 1) { edges { node { id } } } }";

// A random RFC 4122 version-4 UUID: the mutation's clientMutationId.
std::string NewMutationId() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff,
                         hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

// The nodes of data[field].edges.
std::vector<json> Nodes(const json& data, const char* field) {
  std::vector<json> nodes;
  if (!data.is_object() || !data.contains(field) || !data[field].is_object()) return nodes;
  const json& edges = data[field]["edges"];
  if (!edges.is_array()) return nodes;
  for (const json& edge : edges) {
    if (edge.is_object() && edge.contains("node") && edge["node"].is_object()) {
      nodes.push_back(edge["node"]);
    }
  }
  return nodes;
}

// mutationLogs status: openIMIS answers an Int (0 received, 1 error, 2
// success); graphene may render choices as enums ("A_2").
int LogStatus(const json& node) {
  const json& status = node["status"];
  if (status.is_number_integer()) return status.get<int>();
  if (status.is_string()) {
    std::string text = status.get<std::string>();
    if (absl::StartsWith(text, "A_")) text = text.substr(2);
    int value = 0;
    if (absl::SimpleAtoi(text, &value)) return value;
  }
  return -1;
}

// The readable part of a mutation log error (a JSON list of
// {message, detail}), trimmed.
std::string LogError(const json& node) {
  const std::string raw = StringAt(node, "error");
  json parsed = json::parse(raw, nullptr, false);
  std::vector<std::string> parts;
  auto add = [&parts](const json& item) {
    if (item.is_object()) {
      std::string text = StringAt(item, "message");
      const std::string detail = StringAt(item, "detail");
      if (!detail.empty()) text = text.empty() ? detail : absl::StrCat(text, ": ", detail);
      if (!text.empty()) parts.push_back(text);
    } else if (item.is_string()) {
      parts.push_back(item.get<std::string>());
    }
  };
  if (parsed.is_array()) {
    for (const json& item : parsed) add(item);
  } else {
    add(parsed);
  }
  std::string text = parts.empty() ? raw : absl::StrJoin(parts, "; ");
  if (text.size() > 1000) text.resize(1000);
  return text;
}

bool IsDuplicateCode(absl::string_view error) {
  return absl::StrContains(error, "hf_code_duplicated") ||
         absl::StrContains(absl::AsciiStrToLower(error), "code already exists");
}

// The one current facility with exactly `code` among `nodes`.
absl::StatusOr<std::optional<HealthFacility>> PickByCode(const std::vector<json>& nodes,
                                                         const std::string& code) {
  for (const json& node : nodes) {
    absl::StatusOr<HealthFacility> facility = FacilityFromGraphql(node);
    if (!facility.ok()) {
      return absl::DataLossError(absl::StrCat("look-up of HF code ", code, ": ",
                                              facility.status().message()));
    }
    if (facility->code() == code) return std::optional<HealthFacility>(*facility);
  }
  return std::optional<HealthFacility>();
}

// A transport or HTTP fault of a mutation request: did openIMIS handle it?
WriteAttempt FromTransport(const absl::Status& status, int http_status) {
  WriteAttempt attempt;
  attempt.message = std::string(status.message());
  attempt.http_status = http_status;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:  // HTTP 400: the document was refused
      attempt.kind = http_status == 400 ? Kind::kRefused : Kind::kFatal;
      break;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      attempt.kind = Kind::kFatal;
      break;
    case absl::StatusCode::kFailedPrecondition:  // GraphQL errors: not run
      attempt.kind = Kind::kRefused;
      break;
    default:
      attempt.kind = http_status == 429 || http_status == 503 ? Kind::kNotHandled
                                                              : Kind::kUnknown;
  }
  return attempt;
}

// The messages of the errors whose path starts at `field`, or every
// error's when none names a field.
std::string FieldErrors(const json& answer, const std::string& field) {
  auto errors = answer.find("errors");
  if (errors == answer.end() || !errors->is_array()) return "";
  std::vector<std::string> messages;
  for (const json& error : *errors) {
    auto path = error.is_object() ? error.find("path") : error.end();
    if (path == error.end() || !path->is_array() || path->empty() ||
        (*path)[0] != field || !error.contains("message") || !error["message"].is_string()) {
      continue;
    }
    messages.push_back(error["message"].get<std::string>());
  }
  return messages.empty() ? GraphqlErrors(answer) : absl::StrJoin(messages, "; ");
}

}  // namespace

std::vector<MutationAnswer> MutationAnswers(const std::vector<MutationAsk>& asks,
                                            const absl::StatusOr<json>& answer,
                                            int http_status) {
  const bool several = asks.size() > 1;
  std::vector<MutationAnswer> out(asks.size());
  for (MutationAnswer& a : out) a.http_status = http_status;
  if (!answer.ok()) {
    const bool refused_whole = answer.status().code() == absl::StatusCode::kInvalidArgument &&
                               http_status == 400;
    for (size_t i = 0; i < asks.size(); ++i) {
      out[i].status = several ? absl::Status(answer.status().code(),
                                             absl::StrCat(asks[i].what, ": ",
                                                          answer.status().message()))
                              : answer.status();
      out[i].send_alone = several && refused_whole;
    }
    return out;
  }
  const std::string errors = GraphqlErrors(*answer);
  if (!AnyFieldAnswered(*answer)) {
    for (size_t i = 0; i < asks.size(); ++i) {
      out[i].send_alone = several && !errors.empty();
      out[i].status = errors.empty()
                          ? absl::UnavailableError(absl::StrCat(asks[i].what,
                                                                ": the answer has no data"))
                          : absl::FailedPreconditionError(absl::StrCat(asks[i].what, ": ",
                                                                       errors));
    }
    return out;
  }
  const json& data = (*answer)["data"];
  for (size_t i = 0; i < asks.size(); ++i) {
    const std::string field = absl::StrCat("m", i);
    auto it = data.find(field);
    if (it != data.end() && !it->is_null()) continue;  // ran
    const std::string mine = FieldErrors(*answer, field);
    if (mine.empty()) continue;  // no error names it: its log will tell
    out[i].status = absl::FailedPreconditionError(absl::StrCat(asks[i].what, ": ", mine));
  }
  return out;
}

void DistrictIds::Put(const std::string& uuid, int64_t id) {
  absl::MutexLock lock(&mu_);
  ids_[uuid] = id;
}

std::optional<int64_t> DistrictIds::Get(const std::string& uuid) const {
  absl::MutexLock lock(&mu_);
  auto it = ids_.find(uuid);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<HealthFacility> FacilityFromGraphql(const json& node) {
  HealthFacility facility;
  facility.set_uuid(StringAt(node, "uuid"));
  facility.set_code(StringAt(node, "code"));
  if (facility.uuid().empty() || facility.code().empty()) {
    return absl::DataLossError(
        absl::StrCat("health facility node without uuid or code: ", node.dump().substr(0, 200)));
  }
  facility.set_name(StringAt(node, "name"));
  facility.set_level(LevelFromCode(StringAt(node, "level")));
  facility.set_care_type(CareTypeFromCode(StringAt(node, "careType")));
  if (node.contains("legalForm") && node["legalForm"].is_object()) {
    facility.set_legal_form(StringAt(node["legalForm"], "code"));
  }
  if (node.contains("location") && node["location"].is_object()) {
    facility.set_district_uuid(StringAt(node["location"], "uuid"));
    facility.set_district_code(StringAt(node["location"], "code"));
  }
  facility.set_address(StringAt(node, "address"));
  facility.set_phone(StringAt(node, "phone"));
  facility.set_fax(StringAt(node, "fax"));
  facility.set_email(StringAt(node, "email"));
  const std::string status = StringAt(node, "status");
  facility.set_active(status.empty() || status == "AC");
  return facility;
}

absl::StatusOr<absl::Time> ValidityFrom(const json& node) {
  const std::string text = StringAt(node, "validityFrom");
  absl::Time t;
  std::string error;
  for (const char* format : {"%Y-%m-%dT%H:%M:%E*S", "%Y-%m-%dT%H:%M:%E*S%Ez"}) {
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &t, &error)) return t;
  }
  return absl::DataLossError(absl::StrCat("health facility ", StringAt(node, "code"),
                                          ": validityFrom \"", text.substr(0, 40),
                                          "\" is not a date and time (", error, ")"));
}

absl::StatusOr<Area> AreaFromGraphql(const json& node) {
  Area area;
  area.uuid = StringAt(node, "uuid");
  area.code = StringAt(node, "code");
  area.name = StringAt(node, "name");
  area.type = StringAt(node, "type");
  if (area.uuid.empty() || area.code.empty() || area.type.empty()) {
    return absl::DataLossError(
        absl::StrCat("location node without uuid, code or type: ", node.dump().substr(0, 200)));
  }
  if (node.contains("parent") && node["parent"].is_object()) {
    area.parent_uuid = StringAt(node["parent"], "uuid");
  }
  absl::StatusOr<int64_t> id = RelayNumericId(StringAt(node, "id"));
  if (id.ok()) area.id = *id;
  return area;
}

json FacilityInput(const HealthFacility& facility, int64_t district_id) {
  json input = {{"code", facility.code()},
                {"name", facility.name()},
                {"legalFormId", facility.legal_form()},
                {"level", LevelCode(facility.level())},
                {"careType", CareTypeCode(facility.care_type())},
                {"locationId", district_id},
                {"address", facility.address()},
                {"phone", facility.phone()},
                {"fax", facility.fax()},
                {"email", facility.email()},
                {"status", facility.active() ? "AC" : "IN"}};
  if (!facility.uuid().empty()) input["uuid"] = facility.uuid();
  return input;
}

GraphqlApi::GraphqlApi(std::shared_ptr<GraphqlSession> session,
                       std::shared_ptr<DistrictIds> ids, GraphqlApiOptions options,
                       std::shared_ptr<ServerClock> clock,
                       std::shared_ptr<OutcomeBatcher> outcomes,
                       std::shared_ptr<MutationBatcher> mutations)
    : client_(std::move(session)), ids_(std::move(ids)), options_(options),
      clock_(std::move(clock)),
      outcomes_(outcomes != nullptr ? std::move(outcomes) : std::make_shared<OutcomeBatcher>(1)),
      mutations_(mutations != nullptr ? std::move(mutations)
                                      : std::make_shared<MutationBatcher>(1)) {}

absl::StatusOr<json> GraphqlApi::ReadPage(const std::string& where, const char* document,
                                          const json& variables) {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<json> data = client_.Execute(where, document, variables);
    const bool transient = !data.ok() && (absl::IsUnavailable(data.status()) ||
                                          absl::IsDeadlineExceeded(data.status()));
    if (!transient || attempt >= options_.page_attempts) return data;
    const absl::Duration wait =
        ExponentialBackoff(options_.page_backoff, absl::Seconds(5), attempt);
    LogWarning("an openIMIS page read failed; trying the page again",
               {{"page", where},
                {"attempt", attempt},
                {"wait_ms", absl::ToInt64Milliseconds(wait)},
                {"error", std::string(data.status().message())}});
    absl::SleepFor(wait);
  }
}

absl::Status GraphqlApi::ForEachNode(const std::string& what, const char* document,
                                     const char* field, json variables, int page_size,
                                     const std::function<absl::StatusOr<bool>(const json&)>& visit,
                                     int64_t* total) {
  variables["first"] = page_size;
  std::string previous_cursor;
  for (int page = 1;; ++page) {
    const std::string where = absl::StrCat(what, ", page ", page);
    absl::StatusOr<json> data = ReadPage(where, document, variables);
    if (!data.ok()) return data.status();
    if (!(*data)[field].is_object()) {
      return absl::DataLossError(absl::StrCat(where, ": the answer has no ", field));
    }
    if (total != nullptr && page == 1) {
      const json& count = (*data)[field]["totalCount"];
      if (!count.is_number_integer()) {
        return absl::DataLossError(absl::StrCat(where, ": the answer has no totalCount"));
      }
      *total = count.get<int64_t>();
    }
    for (const json& node : Nodes(*data, field)) {
      absl::StatusOr<bool> go_on = visit(node);
      if (!go_on.ok()) {
        return absl::Status(go_on.status().code(),
                            absl::StrCat(where, ": ", go_on.status().message()));
      }
      if (!*go_on) return absl::OkStatus();
    }
    const json& info = (*data)[field]["pageInfo"];
    if (!info.is_object() || !info.value("hasNextPage", false)) return absl::OkStatus();
    const std::string cursor = StringAt(info, "endCursor");
    if (cursor.empty() || cursor == previous_cursor) {
      return absl::DataLossError(
          absl::StrCat(where, ": hasNextPage without a new endCursor"));
    }
    previous_cursor = cursor;
    variables["after"] = cursor;
  }
}

absl::Status GraphqlApi::LoadAreas(SnapshotBuilder& builder, int page_size) {
  for (const char* type : {"R", "D"}) {
    absl::Status status = ForEachNode(
        absl::StrCat("openIMIS locations of type ", type), kAreasQuery, "locations",
        json{{"type", type}}, page_size, [&](const json& node) -> absl::StatusOr<bool> {
          absl::StatusOr<Area> area = AreaFromGraphql(node);
          if (!area.ok()) return area.status();
          if (area->type == "D" && area->id != 0) ids_->Put(area->uuid, area->id);
          builder.AddAreaRecord(*std::move(area));
          return true;
        });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status GraphqlApi::LoadIndex(SnapshotBuilder& builder, int page_size) {
  page_size = std::clamp(page_size, 1, 100);  // openIMIS's own cap on `first`
  absl::Status areas = LoadAreas(builder, page_size);
  if (!areas.ok()) return areas;
  return ForEachNode("openIMIS healthFacilities", kFacilitiesQuery, "healthFacilities",
                     json::object(), page_size, [&](const json& node) -> absl::StatusOr<bool> {
                       absl::StatusOr<HealthFacility> facility = FacilityFromGraphql(node);
                       if (!facility.ok()) return facility.status();
                       absl::StatusOr<absl::Time> changed = ValidityFrom(node);
                       builder.AddFacility(*std::move(facility),
                                           changed.ok() ? *changed : absl::InfinitePast());
                       return true;
                     });
}

absl::Status GraphqlApi::LoadChanges(SnapshotBuilder& builder, absl::Time since,
                                     int page_size, int64_t* total) {
  page_size = std::clamp(page_size, 1, 100);
  absl::Status areas = LoadAreas(builder, page_size);
  if (!areas.ok()) return areas;
  return ForEachNode(
      "openIMIS healthFacilities changed since the last refresh", kChangedQuery,
      "healthFacilities", json::object(), page_size,
      [&](const json& node) -> absl::StatusOr<bool> {
        absl::StatusOr<absl::Time> changed = ValidityFrom(node);
        if (!changed.ok()) return changed.status();
        if (*changed < since) return false;  // older than the last refresh: done
        absl::StatusOr<HealthFacility> facility = FacilityFromGraphql(node);
        if (!facility.ok()) return facility.status();
        builder.AddFacility(*std::move(facility), *changed);
        return true;
      },
      total);
}

absl::StatusOr<std::optional<HealthFacility>> GraphqlApi::FindByCode(const std::string& code) {
  absl::StatusOr<json> data = client_.Execute(absl::StrCat("look-up of HF code ", code),
                                              kByCodeQuery, json{{"code", code}});
  if (!data.ok()) return data.status();
  return PickByCode(Nodes(*data, "healthFacilities"), code);
}

absl::StatusOr<int64_t> GraphqlApi::DistrictId(const std::string& uuid) {
  if (std::optional<int64_t> id = ids_->Get(uuid)) return *id;
  absl::StatusOr<json> data = client_.Execute(absl::StrCat("id of district ", uuid),
                                              kDistrictIdQuery, json{{"uuid", uuid}});
  if (!data.ok()) return data.status();
  std::vector<json> nodes = Nodes(*data, "locations");
  if (nodes.empty()) {
    return absl::NotFoundError(absl::StrCat("openIMIS has no location with uuid ", uuid));
  }
  absl::StatusOr<int64_t> id = RelayNumericId(StringAt(nodes[0], "id"));
  if (!id.ok()) return id.status();
  ids_->Put(uuid, *id);
  return *id;
}

WriteAttempt GraphqlApi::Create(const HealthFacility& facility) {
  HealthFacility create = facility;
  create.clear_uuid();
  return Mutate("createHealthFacility", create);
}

WriteAttempt GraphqlApi::Update(const HealthFacility& facility) {
  return Mutate("updateHealthFacility", facility);
}

WriteAttempt GraphqlApi::Mutate(const char* field, const HealthFacility& facility) {
  absl::StatusOr<int64_t> district_id = DistrictId(facility.district_uuid());
  if (!district_id.ok()) {
    WriteAttempt attempt = FromTransport(district_id.status(), client_.last_http_status());
    if (district_id.status().code() == absl::StatusCode::kNotFound) {
      attempt.kind = Kind::kRefused;
    } else if (attempt.kind == Kind::kUnknown) {
      attempt.kind = Kind::kNotHandled;  // nothing was sent yet
    }
    return attempt;
  }
  const bool create = field == std::string("createHealthFacility");
  const OutcomeAsk ask = AskFor(field, create, facility, NewMutationId());
  json input = FacilityInput(facility, *district_id);
  input["clientMutationId"] = ask.mutation_id;
  input["clientMutationLabel"] = absl::StrCat("mflsync ", facility.code());
  const MutationAsk mutation{
      field, create ? "CreateHealthFacilityMutationInput" : "UpdateHealthFacilityMutationInput",
      &input, ask.what};
  absl::StatusOr<MutationAnswer> sent = mutations_->Await(
      mutation, [this](const std::vector<MutationAsk>& asks) {
        return absl::StatusOr<std::vector<MutationAnswer>>(SendMutations(asks));
      });
  if (sent.ok() && sent->send_alone) sent = SendMutations({mutation}).front();
  // The batcher's own failure (never expected): the outcome is unknown.
  if (!sent.ok()) sent = MutationAnswer{sent.status(), 0, false};
  if (!sent->status.ok()) {
    WriteAttempt attempt = FromTransport(sent->status, sent->http_status);
    if (attempt.kind != Kind::kUnknown) return attempt;
    // The answer was lost: the mutation log under our clientMutationId says
    // whether openIMIS received the mutation and how it ended.
    return AwaitOutcome(ask, attempt.message);
  }
  return AwaitOutcome(ask, "");
}

std::vector<MutationAnswer> GraphqlApi::SendMutations(const std::vector<MutationAsk>& asks) {
  std::vector<std::string> declarations;
  std::string fields;
  std::string variables = "{";
  for (size_t i = 0; i < asks.size(); ++i) {
    declarations.push_back(absl::StrCat("$i", i, ": ", asks[i].input_type, "!"));
    absl::StrAppend(&fields, " m", i, ": ", asks[i].field, "(input: $i", i,
                    ") { clientMutationId internalId }");
    absl::StrAppend(&variables, i == 0 ? "" : ",", "\"i", i, "\":", asks[i].input->dump());
  }
  variables.push_back('}');
  const std::string document = absl::StrCat(
      "mutation mflsyncWrite(", absl::StrJoin(declarations, ", "), ") {", fields, " }");
  const std::string what =
      asks.size() == 1 ? asks[0].what
                       : absl::StrCat("a request of ", asks.size(), " health-facility mutations");
  absl::StatusOr<json> answer = client_.RunSerialized(what, document, variables);
  return MutationAnswers(asks, answer, client_.last_http_status());
}

OutcomeAsk GraphqlApi::AskFor(const char* field, bool create, const HealthFacility& facility,
                              std::string mutation_id) const {
  std::string columns = options_.read_back ? MFLSYNC_HF_FIELDS : create ? kCreatedColumns : "";
  return OutcomeAsk{std::move(mutation_id), facility.code(),
                    absl::StrCat(field, " of HF code ", facility.code()), std::move(columns)};
}

namespace {

// The stored row's validityFrom, read back now: a lower bound of openIMIS's
// clock.
void ObserveStamps(const std::vector<json>& nodes, const std::string& code,
                   ServerClock* clock) {
  if (clock == nullptr) return;
  for (const json& node : nodes) {
    if (StringAt(node, "code") != code) continue;
    absl::StatusOr<absl::Time> stamp = ValidityFrom(node);
    if (stamp.ok()) clock->Observe(*stamp);
  }
}

// Fills `attempt` from the mutation log when it is final: status 2 (written;
// the facility as read back in the same answer) or 1 (refused, a duplicate
// code or another rule). False while it is pending or absent.
bool FinalOutcome(const std::vector<json>& logs, const json& data, const std::string& code,
                  ServerClock* clock, WriteAttempt* attempt) {
  const int status = logs.empty() ? -1 : LogStatus(logs[0]);
  if (status == 2) {
    attempt->kind = Kind::kWritten;
    attempt->message = "mutation log status 2 (success)";
    const std::vector<json> nodes = Nodes(data, "healthFacilities");
    absl::StatusOr<std::optional<HealthFacility>> stored = PickByCode(nodes, code);
    if (stored.ok() && stored->has_value()) attempt->stored = **stored;
    ObserveStamps(nodes, code, clock);
    return true;
  }
  if (status == 1) {
    const std::string error = LogError(logs[0]);
    attempt->kind = IsDuplicateCode(error) ? Kind::kDuplicateCode : Kind::kRefused;
    attempt->message = error;
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<json>> GraphqlApi::PollOutcomes(
    const std::vector<OutcomeAsk>& asks) {
  std::vector<std::string> params;
  std::string fields;
  json variables = json::object();
  for (size_t i = 0; i < asks.size(); ++i) {
    params.push_back(absl::StrCat("$id", i, ": String!"));
    absl::StrAppend(&fields, OutcomeFields(i, asks[i].columns));
    variables[absl::StrCat("id", i)] = asks[i].mutation_id;
    if (asks[i].columns.empty()) continue;
    params.push_back(absl::StrCat("$code", i, ": String!"));
    variables[absl::StrCat("code", i)] = asks[i].code;
  }
  const std::string document =
      absl::StrCat("query mflsyncOutcomes(", absl::StrJoin(params, ", "), ") {", fields, " }");
  const std::string what =
      asks.size() == 1 ? absl::StrCat(asks[0].what, ": mutation log")
                       : absl::StrCat("mutation logs of ", asks.size(), " writes (",
                                      asks[0].what, " and others)");
  absl::StatusOr<json> data = client_.Execute(what, document, variables);
  if (!data.ok()) return data.status();
  if (!data->is_object()) {
    return absl::DataLossError(absl::StrCat(what, ": the answer's data is not an object"));
  }
  std::vector<json> answers;
  answers.reserve(asks.size());
  for (size_t i = 0; i < asks.size(); ++i) {
    json& logs = (*data)[absl::StrCat("l", i)];
    json& facilities = (*data)[absl::StrCat("f", i)];
    answers.push_back(
        json{{"mutationLogs", std::move(logs)}, {"healthFacilities", std::move(facilities)}});
  }
  return answers;
}

WriteAttempt GraphqlApi::AwaitOutcome(const OutcomeAsk& ask, const std::string& lost) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.mutation_timeout;
  absl::Duration wait = options_.poll_interval;
  WriteAttempt attempt;
  attempt.http_status = 200;
  for (bool first = true;; first = false) {
    if (!first) {
      absl::SleepFor(wait);
      wait = std::min(wait * 2, absl::Seconds(1));
    }
    absl::StatusOr<json> data = outcomes_->Await(
        ask, [this](const std::vector<OutcomeAsk>& asks) { return PollOutcomes(asks); });
    if (!data.ok()) {
      const absl::StatusCode code = data.status().code();
      if ((code == absl::StatusCode::kUnavailable ||
           code == absl::StatusCode::kDeadlineExceeded) &&
          absl::Now() < deadline) {
        continue;  // openIMIS is briefly away: the log will still be there
      }
      // The mutation was sent; its outcome is unknown until a look-up.
      attempt.kind = Kind::kUnknown;
      attempt.message = lost.empty() ? std::string(data.status().message())
                                     : absl::StrCat(lost, "; ", data.status().message());
      return attempt;
    }
    std::vector<json> logs = Nodes(*data, "mutationLogs");
    if (FinalOutcome(logs, *data, ask.code, clock_.get(), &attempt)) return attempt;
    if (logs.empty() && !lost.empty() &&
        absl::Now() - start >= std::min(kNotReceivedGrace, options_.mutation_timeout)) {
      // openIMIS writes the log when it receives a mutation, before it
      // answers: no log after the answer was lost means it never arrived.
      attempt.kind = Kind::kNotHandled;
      attempt.message = absl::StrCat(lost, "; openIMIS has no mutation log for it, so it "
                                           "was not received");
      return attempt;
    }
    if (absl::Now() >= deadline) {
      attempt.kind = Kind::kUnknown;
      const std::string after = absl::FormatDuration(options_.mutation_timeout);
      attempt.message =
          logs.empty()
              ? absl::StrCat("no mutation log for clientMutationId ", ask.mutation_id, " after ",
                             after)
              : absl::StrCat("the mutation was still pending (status 0) after ", after);
      return attempt;
    }
  }
}

}  // namespace mflsync::writer
