#include "writer/openimis_probe.h"

#include "common/http_probe.h"
#include "common/url.h"

namespace mflsync::writer {

absl::Status ProbeOpenImis(const WriterCoreOptions& options, absl::Duration timeout) {
  const OpenImisOptions endpoint = EndpointOptions(options.openimis, options.api);
  HttpRequest request;
  if (options.api == OpenImisApiKind::kGraphql) {
    request.method = "POST";
    request.url = endpoint.base_url;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = R"({"query":"{ __typename }"})";
  } else {
    request.url = JoinUrl(endpoint.base_url, "Organization?_count=1");
  }
  return ProbeHttp(options.openimis.via_openhim ? "openIMIS (through openHIM)" : "openIMIS",
                   request, options.openimis.http.tls, timeout);
}

}  // namespace mflsync::writer
