// Test helper: runs testbed/mfl/mfl_standin.py (the MFL FHIR stand-in), or
// another loopback server, as a child process on a free loopback port and talks to its /$testbed admin API.
#ifndef MFLSYNC_TESTS_FETCHER_MFL_STANDIN_H_
#define MFLSYNC_TESTS_FETCHER_MFL_STANDIN_H_

#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http_client.h"

namespace mflsync::testing {

inline std::string SourceDir() {
  const char* env = std::getenv("MFLSYNC_SOURCE_DIR");
  return env != nullptr ? env : MFLSYNC_SOURCE_DIR_DEFAULT;
}

class MflStandIn {
 public:
  ~MflStandIn() { Stop(); }

  // Starts the stand-in with `args` (besides --port/--ready-file); waits for
  // it to listen (up to `wait`).
  absl::Status Start(const std::vector<std::string>& args,
                     absl::Duration wait = absl::Seconds(60)) {
    std::vector<std::string> argv = {"python3", SourceDir() + "/testbed/mfl/mfl_standin.py",
                                     "--port", "0", "--ready-file", "{ready}"};
    argv.insert(argv.end(), args.begin(), args.end());
    return StartCommand(argv, wait);
  }

  // Runs any loopback server command; "{ready}" in `argv` is replaced by the
  // path where the server writes its port once it listens.
  // When the server writes JSON, `port_key` names the port to use.
  absl::Status StartCommand(std::vector<std::string> argv,
                            absl::Duration wait = absl::Seconds(60),
                            const std::string& port_key = "router") {
    char tmpl[] = "/tmp/mflsync-fetcher-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
    dir_ = tmpl;
    const std::string ready = dir_ + "/port";
    for (std::string& a : argv)
      if (a == "{ready}") a = ready;
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork failed");
    if (pid_ == 0) {
      // Dies with the test, and holds none of its output pipes (ctest would
      // wait for an orphan that keeps them open).
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
      std::string log = dir_ + "/stderr.log";
      FILE* f = freopen(log.c_str(), "w", stderr);
      FILE* g = freopen(log.c_str(), "a", stdout);
      (void)f;
      (void)g;
      std::vector<char*> cargv;
      for (std::string& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execvp(cargv[0], cargv.data());
      _exit(127);
    }
    const absl::Time until = absl::Now() + wait;
    while (absl::Now() < until) {
      std::ifstream in(ready);
      std::stringstream text;
      text << in.rdbuf();
      // A bare port, or {"router": port, ...} (the openHIM stand-in).
      nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
      int port = 0;
      if (doc.is_number_integer()) port = doc.get<int>();
      if (doc.is_object() && doc.contains(port_key) && doc[port_key].is_number_integer())
        port = doc[port_key].get<int>();
      if (port > 0) {
        port_ = port;
        return absl::OkStatus();
      }
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        std::ifstream log(dir_ + "/stderr.log");
        std::stringstream text;
        text << log.rdbuf();
        return absl::InternalError(absl::StrCat(argv[0], " exited early: ",
                                                text.str().substr(0, 2000)));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not become ready"));
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
      int rc = std::system(cmd.c_str());
      (void)rc;
      dir_.clear();
    }
  }

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string Origin() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::string BaseUrl() const { return Origin() + "/fhir"; }

  // Sends an admin request (/$testbed/...), returns the body.
  absl::StatusOr<std::string> Admin(const std::string& method, const std::string& path,
                                    const std::string& body = "") {
    return Call(method, Origin() + "/$testbed/" + path, body, {});
  }

  // Any request to the stand-in.
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& url,
                                   const std::string& body, HttpHeaders headers) {
    HttpClient client(HttpClientOptions{});
    HttpRequest req;
    req.method = method;
    req.url = url;
    req.body = body;
    req.headers = std::move(headers);
    req.headers.emplace_back("Content-Type", "application/json");
    absl::StatusOr<HttpResponse> resp = client.Send(req);
    if (!resp.ok()) return resp.status();
    if (resp->status >= 300)
      return absl::InternalError(absl::StrCat(method, " ", url, ": HTTP ", resp->status, ": ",
                                              resp->body.substr(0, 300)));
    return resp->body;
  }

  absl::Status Faults(const std::string& json) {
    absl::StatusOr<std::string> r = Admin("PUT", "faults", json);
    return r.ok() ? absl::OkStatus() : r.status();
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

}  // namespace mflsync::testing

#endif  // MFLSYNC_TESTS_FETCHER_MFL_STANDIN_H_
