#include "tests/writer/real_openimis.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "tests/support/env_file.h"
#include "tests/writer/standin_process.h"

namespace mflsync::writer::testing {

absl::StatusOr<RealOpenImis> RealOpenImis::FromEnv(const char* env_var) {
  absl::StatusOr<mflsync::testing::EnvValues> values =
      mflsync::testing::ReadEnvFileNamedBy(env_var, "openimis_real_start");
  if (!values.ok()) return values.status();
  return FromValues(*values, std::getenv(env_var));
}

absl::StatusOr<RealOpenImis> RealOpenImis::FromFile(const std::string& path) {
  absl::StatusOr<mflsync::testing::EnvValues> values = mflsync::testing::ReadEnvFile(path);
  if (!values.ok())
    return absl::NotFoundError(absl::StrCat("no real openIMIS: ", values.status().message()));
  return FromValues(*values, path);
}

absl::StatusOr<RealOpenImis> RealOpenImis::FromValues(mflsync::testing::EnvValues values,
                                                      const std::string& path) {
  RealOpenImis real;
  real.api_root = values["OPENIMIS_URL"];
  real.user = values["OPENIMIS_USER"];
  real.password = values["OPENIMIS_PASSWORD"];
  real.async = values["OPENIMIS_ASYNC"] == "1";
  if (real.api_root.empty() || !absl::SimpleAtoi(values["OPENIMIS_PG_PORT"], &real.pg_port)) {
    return absl::DataLossError(absl::StrCat(path, " lacks OPENIMIS_URL or OPENIMIS_PG_PORT"));
  }
  return real;
}

absl::StatusOr<std::string> RealOpenImis::Sql(const std::string& sql) const {
  const std::string command = absl::StrCat(
      "psql -X -q -tA -h 127.0.0.1 -p ", pg_port, " -U postgres -d openimis -c \"", sql,
      "\" 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen psql failed");
  std::string out;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  const int rc = pclose(pipe);
  if (rc != 0) return absl::InternalError(absl::StrCat("psql: ", out));
  std::string first = out.substr(0, out.find('\n'));
  return std::string(absl::StripAsciiWhitespace(first));
}

int RealOpenImis::CurrentRows(const std::string& code) const {
  absl::StatusOr<std::string> n = Sql(absl::StrCat(
      "SELECT count(*) FROM \\\"tblHF\\\" WHERE \\\"HFCode\\\" = '", code,
      "' AND \\\"ValidityTo\\\" IS NULL"));
  int count = -1;
  if (!n.ok() || !absl::SimpleAtoi(*n, &count)) return -1;
  return count;
}

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(const std::string& upstream) {
  std::unique_ptr<FaultProxy> proxy(new FaultProxy());
  absl::StatusOr<std::string> dir = mflsync::testing::MakeTempDir("mflsync-fault-proxy");
  if (!dir.ok()) return dir.status();
  proxy->dir_ = *dir;
  const std::string ready = proxy->dir_ + "/port";
  absl::StatusOr<std::unique_ptr<mflsync::testing::ChildProcess>> child =
      mflsync::testing::ChildProcess::Start(
          {"python3", SourceDir() + "/testbed/faultproxy/fault_proxy.py", "--upstream",
           upstream, "--port", "0", "--ready-file", ready},
          proxy->dir_ + "/proxy.log");
  if (!child.ok()) return child.status();
  proxy->process_ = *std::move(child);
  int port = 0;
  absl::StatusOr<std::string> text = proxy->process_->WaitForFile(
      ready,
      [&port](const std::string& t) {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(t), &port) && port > 0;
      },
      absl::Seconds(20), "the fault proxy");
  if (!text.ok()) return text.status();
  proxy->port_ = port;
  return proxy;
}

std::string FaultProxy::origin() const { return absl::StrCat("http://127.0.0.1:", port_); }

absl::Status FaultProxy::AddRule(const nlohmann::json& rule) {
  HttpRequest request;
  request.method = "POST";
  request.url = origin() + "/$proxy/rules";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = rule.dump();
  absl::StatusOr<HttpResponse> response = http_.Send(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) return absl::InternalError(response->body);
  return absl::OkStatus();
}

nlohmann::json FaultProxy::Stats() {
  HttpRequest request;
  request.url = origin() + "/$proxy/stats";
  absl::StatusOr<HttpResponse> response = http_.Send(request);
  if (!response.ok()) return nullptr;
  return nlohmann::json::parse(response->body, nullptr, false);
}

}  // namespace mflsync::writer::testing
