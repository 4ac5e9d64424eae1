#include "mediator/pending_syncs.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/json_access.h"
#include "common/log.h"
#include "common/url.h"

namespace mflsync::mediator {
namespace {

using nlohmann::json;

// The _id of the channel named `name`, if openHIM has it.
absl::StatusOr<std::optional<std::string>> ChannelId(const OpenHimApi& api,
                                                     const std::string& name) {
  absl::StatusOr<json> channels = api.GetJsonList("/channels", "GET /channels");
  if (!channels.ok()) return channels.status();
  for (const json& c : *channels) {
    if (c.is_object() && StringAt(c, "name") == name && !StringAt(c, "_id").empty())
      return std::optional<std::string>(StringAt(c, "_id"));
  }
  return std::optional<std::string>();
}

}  // namespace

absl::StatusOr<std::vector<PendingSync>> FindPendingSyncs(const OpenHimApi& api,
                                                          const std::string& channel_name,
                                                          int limit) {
  absl::StatusOr<std::optional<std::string>> channel = ChannelId(api, channel_name);
  if (!channel.ok()) return channel.status();
  std::vector<PendingSync> pending;
  if (!channel->has_value()) return pending;
  // Only filters=<JSON> filters in openHIM 8.5.0 (a bare ?status= is ignored).
  json filters = {{"channelID", **channel}, {"status", "Processing"}};
  std::string path = absl::StrCat("/transactions?filters=", PercentEncode(filters.dump()),
                                  "&filterLimit=", limit);
  absl::StatusOr<json> transactions = api.GetJsonList(path, "GET /transactions");
  if (!transactions.ok()) return transactions.status();
  for (const json& t : *transactions) {
    if (!t.is_object()) continue;
    std::string id = StringAt(t, "_id");
    std::string run_id =
        t.contains("properties") && t["properties"].is_object() ? StringAt(t["properties"], "run_id")
                                                                 : "";
    if (id.empty()) continue;
    if (run_id.empty()) {
      LogWarning("an openHIM sync transaction is Processing without a run id; left as it is",
                 {{"transaction", id}, {"channel", channel_name}});
      continue;
    }
    pending.push_back(PendingSync{std::move(id), std::move(run_id)});
  }
  return pending;
}

}  // namespace mflsync::mediator
