#include "tests/mediator/openhim_standin.h"

#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "tests/support/child_process.h"
#include "tests/writer/standin_process.h"

namespace mflsync::mediator::testing {

absl::StatusOr<std::unique_ptr<OpenHimStandin>> OpenHimStandin::Start(
    const std::vector<std::string>& extra_args) {
  std::unique_ptr<OpenHimStandin> s(new OpenHimStandin());
  absl::StatusOr<std::string> dir = mflsync::testing::MakeTempDir("mflsync-mediator-test");
  if (!dir.ok()) return dir.status();
  s->dir_ = *dir;
  const std::string ready = s->dir_ + "/ready.json";
  const std::string script =
      writer::testing::SourceDir() + "/testbed/openhim/openhim_standin.py";
  std::vector<std::string> args = {"python3",      script, "--host",        "127.0.0.1",
                                   "--router-port", "0",    "--api-port",    "0",
                                   "--ready-file",  ready};
  for (const std::string& a : extra_args) args.push_back(a);
  absl::StatusOr<std::unique_ptr<mflsync::testing::ChildProcess>> child =
      mflsync::testing::ChildProcess::Start(args, s->dir_ + "/standin.log");
  if (!child.ok()) return child.status();
  s->process_ = *std::move(child);
  absl::StatusOr<std::string> text = s->process_->WaitForFile(
      ready,
      [](const std::string& t) {
        absl::StatusOr<nlohmann::json> j = ParseJson(t);
        return j.ok() && j->is_object() && j->contains("router") && j->contains("api");
      },
      absl::Seconds(30), "the openHIM stand-in");
  if (!text.ok()) return text.status();
  nlohmann::json ports = *ParseJson(*text);
  s->router_port_ = ports["router"].get<int>();
  s->api_port_ = ports["api"].get<int>();
  return s;
}

OpenHimStandin::~OpenHimStandin() {
  if (process_ != nullptr) process_->Stop(absl::Seconds(5));
  std::error_code ec;
  if (!dir_.empty() && getenv("MFLSYNC_TEST_KEEP") == nullptr)
    std::filesystem::remove_all(dir_, ec);
}

std::string OpenHimStandin::api_url() const { return absl::StrCat("http://127.0.0.1:", api_port_); }
std::string OpenHimStandin::router_url() const {
  return absl::StrCat("http://127.0.0.1:", router_port_);
}

absl::StatusOr<HttpResponse> OpenHimStandin::Api(const std::string& method,
                                                 const std::string& path,
                                                 const nlohmann::json& body) {
  HttpClient http{HttpClientOptions{}};
  HttpRequest request;
  request.method = method;
  request.url = api_url() + path;
  request.headers.push_back({"Authorization", BasicAuthHeader(kAdminUser, kAdminPassword)});
  if (!body.is_null()) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = body.dump();
  }
  return http.Send(request);
}

nlohmann::json OpenHimStandin::ApiJson(const std::string& method, const std::string& path,
                                       const nlohmann::json& body) {
  absl::StatusOr<HttpResponse> r = Api(method, path, body);
  if (!r.ok() || r->status / 100 != 2) return nullptr;
  absl::StatusOr<nlohmann::json> j = ParseJson(r->body);
  return j.ok() ? *j : nlohmann::json(nullptr);
}

nlohmann::json OpenHimStandin::StoredTransaction(const std::string& id) {
  nlohmann::json tx;
  for (absl::Time deadline = absl::Now() + absl::Seconds(5); absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(20))) {
    tx = ApiJson("GET", "/transactions/" + id);
    if (tx.is_object() && tx.contains("response")) break;
  }
  return tx;
}

}  // namespace mflsync::mediator::testing
