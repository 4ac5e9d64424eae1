#include "tests/mediator/openhim_standin.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fhir.h"
#include "tests/writer/standin_process.h"

namespace mflsync::mediator::testing {

absl::StatusOr<std::unique_ptr<OpenHimStandin>> OpenHimStandin::Start(
    const std::vector<std::string>& extra_args) {
  std::unique_ptr<OpenHimStandin> s(new OpenHimStandin());
  char tmpl[] = "/tmp/mflsync-mediator-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  s->dir_ = tmpl;
  const std::string ready = s->dir_ + "/ready.json";
  const std::string script =
      writer::testing::SourceDir() + "/testbed/openhim/openhim_standin.py";
  std::vector<std::string> args = {"python3",      script, "--host",        "127.0.0.1",
                                   "--router-port", "0",    "--api-port",    "0",
                                   "--ready-file",  ready};
  for (const std::string& a : extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = s->dir_ + "/standin.log";
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execvp("python3", argv.data());
    _exit(127);
  }
  s->pid_ = pid;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    std::ifstream in(ready);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<nlohmann::json> j = ParseJson(text.str());
    if (j.ok() && j->is_object() && j->contains("router") && j->contains("api")) {
      s->router_port_ = (*j)["router"].get<int>();
      s->api_port_ = (*j)["api"].get<int>();
      return s;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s->pid_ = -1;
      return absl::InternalError(absl::StrCat("the openHIM stand-in exited; see ", log));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("the openHIM stand-in did not start within 30 s");
}

OpenHimStandin::~OpenHimStandin() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    bool exited = false;
    for (int i = 0; i < 100 && !exited; ++i) {
      int status = 0;
      exited = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!exited) absl::SleepFor(absl::Milliseconds(50));
    }
    if (!exited) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
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

}  // namespace mflsync::mediator::testing
