#include "tests/writer/standin_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

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
  char tmpl[] = "/tmp/mflsync-writer-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  standin->dir_ = tmpl;
  const std::string ready = standin->dir_ + "/port";
  const std::string script = SourceDir() + "/testbed/openimis/openimis_standin.py";
  std::vector<std::string> args = {"python3", script, "--port", "0", "--ready-file", ready,
                                   "--db", standin->dir_ + "/openimis.db"};
  for (const std::string& a : extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = standin->dir_ + "/standin.log";
  // fork + exec (not posix_spawn) so that the child dies with the test
  // process (PR_SET_PDEATHSIG) even when a test crashes.
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
  standin->pid_ = pid;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    std::ifstream in(ready);
    std::string text;
    if (in && std::getline(in, text) &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &standin->port_) &&
        standin->port_ > 0) {
      return standin;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      standin->pid_ = -1;
      std::ifstream err(log);
      std::stringstream buffer;
      buffer << err.rdbuf();
      return absl::InternalError(
          absl::StrCat("the openIMIS stand-in exited at start: ", buffer.str()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("the openIMIS stand-in did not write its port in 30 s");
}

OpenImisStandin::~OpenImisStandin() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
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
