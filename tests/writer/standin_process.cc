#include "tests/writer/standin_process.h"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/support/child_process.h"

namespace mflsync::writer::testing {

std::string SourceDir() {
  const char* env = std::getenv("MFLSYNC_SOURCE_DIR");
  if (env != nullptr && *env != '\0') return env;
#ifdef MFLSYNC_SOURCE_DIR
  return MFLSYNC_SOURCE_DIR;
#else
  return ".";
#endif
}

absl::StatusOr<std::unique_ptr<OpenImisStandin>> OpenImisStandin::Start(
    const std::vector<std::string>& extra_args) {
  std::unique_ptr<OpenImisStandin> standin(new OpenImisStandin());
  absl::StatusOr<std::string> dir = mflsync::testing::MakeTempDir("mflsync-writer-test");
  if (!dir.ok()) return dir.status();
  standin->dir_ = *dir;
  const std::string ready = standin->dir_ + "/port";
  const std::string script = SourceDir() + "/testbed/openimis/openimis_standin.py";
  std::vector<std::string> args = {"python3", script, "--port", "0", "--ready-file", ready,
                                   "--db", standin->dir_ + "/openimis.db"};
  for (const std::string& a : extra_args) args.push_back(a);
  absl::StatusOr<std::unique_ptr<mflsync::testing::ChildProcess>> child =
      mflsync::testing::ChildProcess::Start(args, standin->dir_ + "/standin.log");
  if (!child.ok()) return child.status();
  standin->process_ = *std::move(child);
  int port = 0;
  absl::StatusOr<std::string> text = standin->process_->WaitForFile(
      ready,
      [&port](const std::string& t) {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(t), &port) && port > 0;
      },
      absl::Seconds(30), "the openIMIS stand-in");
  if (!text.ok()) return text.status();
  standin->port_ = port;
  return standin;
}

OpenImisStandin::~OpenImisStandin() {
  if (process_ != nullptr) process_->Stop(absl::Seconds(5));
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string OpenImisStandin::api_root() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/api");
}

std::string OpenImisStandin::base_url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/api/api_fhir_r4");
}

absl::StatusOr<nlohmann::json> OpenImisStandin::Testbed(const std::string& method,
                                                        const std::string& sub,
                                                        const nlohmann::json& body) {
  HttpRequest request;
  request.method = method;
  request.url = absl::StrCat("http://127.0.0.1:", port_, "/$testbed/", sub);
  if (!body.is_null()) {
    request.body = body.dump();
    request.headers.emplace_back("Content-Type", "application/json");
  }
  absl::StatusOr<HttpResponse> response = http_.Send(request);
  if (!response.ok()) return response.status();
  if (response->status / 100 != 2) {
    return absl::InternalError(
        absl::StrCat("$testbed/", sub, ": HTTP ", response->status, ": ", response->body));
  }
  nlohmann::json doc = nlohmann::json::parse(response->body, nullptr, false);
  if (doc.is_discarded()) return absl::InternalError("$testbed answer is not JSON");
  return doc;
}

void OpenImisStandin::AddFaults(const nlohmann::json& faults) {
  absl::StatusOr<nlohmann::json> r = Testbed("POST", "faults", faults);
  if (!r.ok()) std::fprintf(stderr, "AddFaults: %s\n", std::string(r.status().message()).c_str());
}

void OpenImisStandin::Reset() { (void)Testbed("POST", "reset", nlohmann::json::object()); }

nlohmann::json OpenImisStandin::Facilities() {
  absl::StatusOr<nlohmann::json> r = Testbed("GET", "facilities");
  return r.ok() ? *r : nlohmann::json();
}

int OpenImisStandin::CountCode(const std::string& code) {
  absl::StatusOr<nlohmann::json> r = Testbed("GET", "facilities?code=" + code);
  if (!r.ok() || !r->contains("count")) return -1;
  return (*r)["count"].get<int>();
}

nlohmann::json OpenImisStandin::Stats() {
  absl::StatusOr<nlohmann::json> r = Testbed("GET", "stats");
  return r.ok() ? *r : nlohmann::json();
}

int OpenImisStandin::Requests(const std::string& method, const std::string& path) {
  nlohmann::json stats = Stats();
  int total = 0;
  if (!stats.contains("requests")) return -1;
  for (const auto& r : stats["requests"]) {
    if (r.value("method", "") == method && r.value("path", "") == path) {
      total += r.value("count", 0);
    }
  }
  return total;
}

}  // namespace mflsync::writer::testing
