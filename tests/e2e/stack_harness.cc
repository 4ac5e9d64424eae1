#include "tests/e2e/stack_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/http_client.h"
#include "common/grpc_auth.h"
#include "common/grpc_channel.h"
#include "common/service_main.h"
#include "common/status_util.h"

#ifndef MFLSYNC_SOURCE_DIR
#error "MFLSYNC_SOURCE_DIR must be defined by CMake"
#endif

namespace mflsync::e2e {
namespace {

// The one bearer token of a harness stack (tests only).
constexpr char kHarnessToken[] = "e2e-harness-token-5b1f0c";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Binary(const std::string& name) {
  // MFLSYNC_E2E_<NAME>_BIN overrides a binary (e.g. one from another build).
  std::string var = absl::StrCat("MFLSYNC_E2E_", name, "_BIN");
  for (char& c : var) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  const char* override_path = getenv(var.c_str());
  if (override_path != nullptr && *override_path != '\0') return override_path;
  if (name == "fetcher") return MFLSYNC_BIN_FETCHER;
  if (name == "mapper") return MFLSYNC_BIN_MAPPER;
  if (name == "writer") return MFLSYNC_BIN_WRITER;
  if (name == "mediator") return MFLSYNC_BIN_MEDIATOR;
  return MFLSYNC_BIN_SCHEDULER;
}

std::string TempRoot() {
  const char* t = getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

void Merge(nlohmann::json& into, const nlohmann::json& from) {
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (it->is_object() && into.contains(it.key()) && into[it.key()].is_object()) {
      Merge(into[it.key()], *it);
    } else {
      into[it.key()] = *it;
    }
  }
}

}  // namespace

int DefaultFacilities() {
  const char* n = getenv("MFLSYNC_E2E_FACILITIES");
  return n != nullptr && atoi(n) > 0 ? atoi(n) : 300;
}

absl::StatusOr<std::unique_ptr<Process>> Process::Spawn(const std::vector<std::string>& argv,
                                                        const std::string& log_path) {
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    close(log);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(log);
  return std::unique_ptr<Process>(new Process(pid));
}

Process::~Process() {
  if (reaped_) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) return;
    usleep(100 * 1000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

void Process::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

int Process::Wait() {
  if (reaped_) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

Stack::Stack(StackOptions options) : options_(std::move(options)) {
  dir_ = (std::filesystem::path(TempRoot()) /
          absl::StrCat("mflsync_e2e_", getpid(), "_", absl::ToUnixMicros(absl::Now())))
             .string();
  std::filesystem::create_directories(dir_);
  // The services admit one principal, the harness (every role): they and the
  // tests' clients send its token.
  std::ofstream(absl::StrCat(dir_, "/access.txt"))
      << "harness viewer,operator,service sha256:" << TokenSha256(kHarnessToken) << "\n";
  if (options_.mapping_file.empty()) {
    options_.mapping_file =
        absl::StrCat(MFLSYNC_SOURCE_DIR, "/mapper/mappings/synthetic.json");
  }
}

Stack::~Stack() {
  for (const char* name :
       {"mediator", "scheduler", "writer", "mapper", "fetcher", "openhim", "openimis", "mfl"}) {
    processes_.erase(name);
  }
  std::error_code ec;
  if (getenv("MFLSYNC_E2E_KEEP") == nullptr) std::filesystem::remove_all(dir_, ec);
}

std::string Stack::LogTail(const std::string& name, int lines) const {
  std::ifstream in(absl::StrCat(dir_, "/", name, ".log"));
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) absl::StrAppend(&out, "  | ", l, "\n");
  return out;
}

absl::StatusOr<std::string> Stack::WaitReady(const std::string& name,
                                             const std::string& ready_file) {
  absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (absl::Now() < deadline) {
    if (std::filesystem::exists(ready_file)) {
      std::string text(absl::StripAsciiWhitespace(ReadAll(ready_file)));
      if (!text.empty()) return text;
    }
    int status = 0;
    if (waitpid(processes_[name]->pid(), &status, WNOHANG) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " exited before it was ready; its log:\n", LogTail(name)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(name, " was not ready within 90 s; its log:\n", LogTail(name)));
}

std::vector<std::string> Stack::StandInArgv(const std::string& name, const std::string& port) {
  const std::string src = MFLSYNC_SOURCE_DIR;
  const std::string ready = absl::StrCat(dir_, "/", name, ".ready");
  if (name == "openhim") {
    const std::string router =
        addresses_.count("openhim_router") ? addresses_["openhim_router"] : "127.0.0.1:0";
    return {"python3", src + "/testbed/openhim/openhim_standin.py", "--host", "127.0.0.1",
            "--api-port", port, "--router-port", router.substr(router.rfind(':') + 1),
            "--ready-file", ready};
  }
  if (name == "mfl") {
    return {"python3", src + "/testbed/mfl/mfl_standin.py", "--host", "127.0.0.1", "--port", port,
            "--base-path", "/fhir", "--synthetic", std::to_string(options_.synthetic_facilities),
            "--page-size-default", std::to_string(options_.mfl_page_size_default),
            "--ready-file", ready};
  }
  return {"python3", src + "/testbed/openimis/openimis_standin.py", "--host", "127.0.0.1",
          "--port", port, "--db", dir_ + "/openimis.db", "--areas",
          src + "/mapper/mappings/synthetic-openimis-areas.json", "--fast", "--ready-file",
          ready};
}

absl::Status Stack::StartStandIns() {
  for (const char* name : {"mfl", "openimis"}) {
    absl::StatusOr<std::unique_ptr<Process>> p =
        Process::Spawn(StandInArgv(name, "0"), absl::StrCat(dir_, "/", name, ".log"));
    if (!p.ok()) return p.status();
    processes_[name] = *std::move(p);
  }
  for (const char* name : {"mfl", "openimis"}) {
    absl::StatusOr<std::string> port =
        WaitReady(name, absl::StrCat(dir_, "/", name, ".ready"));
    if (!port.ok()) return port.status();
    addresses_[name] = absl::StrCat("127.0.0.1:", *port);
  }
  return absl::OkStatus();
}

absl::Status Stack::StartOpenHim() {
  const std::string ready = absl::StrCat(dir_, "/openhim.ready");
  std::filesystem::remove(ready);
  const std::string api = addresses_.count("openhim") ? addresses_["openhim"] : "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Spawn(
      StandInArgv("openhim", api.substr(api.rfind(':') + 1)), absl::StrCat(dir_, "/openhim.log"));
  if (!p.ok()) return p.status();
  processes_["openhim"] = *std::move(p);
  absl::StatusOr<std::string> text = WaitReady("openhim", ready);
  if (!text.ok()) return text.status();
  const nlohmann::json ports = nlohmann::json::parse(*text, nullptr, false);
  if (!ports.is_object() || !ports.contains("api") || !ports.contains("router"))
    return absl::InternalError(absl::StrCat("the openHIM stand-in's ready file: ", *text));
  addresses_["openhim"] = absl::StrCat("127.0.0.1:", ports["api"].get<int>());
  addresses_["openhim_router"] = absl::StrCat("127.0.0.1:", ports["router"].get<int>());
  return absl::OkStatus();
}

absl::Status Stack::StopStandIn(const std::string& name) {
  if (StopService(name, SIGTERM) == -1) {
    return absl::NotFoundError(absl::StrCat("stand-in ", name, " is not running"));
  }
  return absl::OkStatus();
}

absl::Status Stack::StartStandIn(const std::string& name) {
  if (name == "openhim") return StartOpenHim();
  const std::string address = addresses_.at(name);
  const std::string port = address.substr(address.rfind(':') + 1);
  const std::string ready = absl::StrCat(dir_, "/", name, ".ready");
  std::filesystem::remove(ready);
  absl::StatusOr<std::unique_ptr<Process>> p =
      Process::Spawn(StandInArgv(name, port), absl::StrCat(dir_, "/", name, ".log"));
  if (!p.ok()) return p.status();
  processes_[name] = *std::move(p);
  return WaitReady(name, ready).status();
}

std::string Stack::token() const { return kHarnessToken; }

absl::Status Stack::Start() {
  absl::Status s = StartStandIns();
  if (!s.ok()) return s;
  configs_["fetcher"] = {
      {"sources",
       {{"mfl",
         {{"base_url", absl::StrCat("http://", addresses_["mfl"], "/fhir")},
          {"page_size", 200},
          {"overlap", "60s"}}}}}};
  configs_["mapper"] = {{"mapping_file", options_.mapping_file}};
  configs_["writer"] = {
      {"openimis",
       {{"base_url", absl::StrCat("http://", addresses_["openimis"], "/api")},
        {"username", "Admin"},
        {"password", "admin123"}}},
      {"retry", {{"max_attempts", 2}, {"initial_backoff", "50ms"}, {"max_backoff", "200ms"}}},
      {"index", {{"path", dir_ + "/writer-index.db"}}}};
  configs_["scheduler"] = {
      {"state_db", dir_ + "/scheduler.db"},
      {"sources", {{"mfl", {{"schedule", ""}}}}},
      {"batch_size", 50},
      {"max_batches_in_flight", 4},
      {"retry", {{"initial_backoff", "1h"}, {"max_backoff", "2h"}}},
      {"peer_retry", {{"attempts", 3}, {"backoff", "200ms"}}}};
  for (auto& [name, extra] : options_.extra_config) Merge(configs_[name], extra);
  for (const char* name : {"fetcher", "mapper", "writer", "scheduler"}) {
    s = StartService(name);
    if (!s.ok()) return s;
  }
  return options_.with_mediator ? StartMediator() : absl::OkStatus();
}

absl::Status Stack::StartMediator() {
  absl::Status s = StartOpenHim();
  if (!s.ok()) return s;
  configs_["mediator"] = {
      {"openhim",
       {{"api_url", absl::StrCat("http://", addresses_["openhim"])},
        {"username", "root@openhim.org"},
        {"password", "openhim-password"},  // the stand-in's default
        {"install_channels", false}}},
      {"http_listen", "127.0.0.1:0"},
      {"endpoint_password", "e2e-endpoint-password"}};
  if (options_.extra_config.count("mediator"))
    Merge(configs_["mediator"], options_.extra_config.at("mediator"));
  return StartService("mediator");
}

absl::Status Stack::StartService(const std::string& name) {
  if (name == "scheduler") {
    configs_[name]["fetcher_address"] = addresses_["fetcher"];
    configs_[name]["mapper_address"] = addresses_["mapper"];
    configs_[name]["writer_address"] = addresses_["writer"];
  }
  if (name == "mediator") configs_[name]["scheduler_address"] = addresses_["scheduler"];
  const std::string ready = absl::StrCat(dir_, "/", name, ".ready");
  std::filesystem::remove(ready);
  nlohmann::json config = configs_[name];
  // Restarted services keep their port, so peers and clients keep working.
  config["listen_address"] =
      addresses_.count(name) ? addresses_[name] : std::string("127.0.0.1:0");
  config["ready_file"] = ready;
  config["grpc"]["auth"]["access_file"] = absl::StrCat(dir_, "/access.txt");
  config["grpc"]["auth"]["token"] = kHarnessToken;
  const std::string path = absl::StrCat(dir_, "/", name, ".json");
  std::ofstream(path) << config.dump(2);
  absl::StatusOr<std::unique_ptr<Process>> p =
      Process::Spawn({Binary(name), "--config", path}, absl::StrCat(dir_, "/", name, ".log"));
  if (!p.ok()) return p.status();
  processes_[name] = *std::move(p);
  absl::StatusOr<std::string> address = WaitReady(name, ready);
  if (!address.ok()) return address.status();
  addresses_[name] = *address;
  return absl::OkStatus();
}

int Stack::StopService(const std::string& name, int sig) {
  auto it = processes_.find(name);
  if (it == processes_.end()) return -1;
  it->second->Signal(sig);
  int code = it->second->Wait();
  processes_.erase(it);
  return code;
}

std::unique_ptr<v1::SchedulerService::Stub> Stack::Scheduler() {
  return v1::SchedulerService::NewStub(
      MakeChannel(addresses_.at("scheduler"), ClientSecurity{.token = kHarnessToken}));
}

absl::StatusOr<nlohmann::json> Stack::Http(const std::string& server, const std::string& method,
                                           const std::string& path, const nlohmann::json& body) {
  HttpClientOptions options;
  options.request_timeout = absl::Seconds(60);
  HttpClient client(options);
  HttpRequest req;
  req.method = method;
  req.url = absl::StrCat("http://", addresses_.at(server), path);
  if (!body.is_null()) {
    req.body = body.dump();
    req.headers.emplace_back("Content-Type", "application/json");
  }
  absl::StatusOr<HttpResponse> resp = client.Send(req);
  if (!resp.ok()) return resp.status();
  if (resp->status >= 300) {
    return absl::InternalError(absl::StrCat(method, " ", path, " → HTTP ", resp->status, ": ",
                                            resp->body.substr(0, 300)));
  }
  nlohmann::json j = nlohmann::json::parse(resp->body, nullptr, false);
  if (j.is_discarded()) return absl::InternalError(absl::StrCat(path, ": not JSON"));
  return j;
}

absl::StatusOr<std::map<std::string, nlohmann::json>> Stack::OpenImisFacilities() {
  absl::StatusOr<nlohmann::json> j = Http("openimis", "GET", "/$testbed/facilities");
  if (!j.ok()) return j.status();
  std::map<std::string, nlohmann::json> out;
  for (const nlohmann::json& f : (*j)["facilities"]) {
    std::string code = f.value("code", "");
    if (out.count(code)) {
      return absl::InternalError(absl::StrCat("openIMIS holds HF code ", code, " twice"));
    }
    out[code] = f;
  }
  if (static_cast<size_t>((*j).value("count", -1)) != out.size()) {
    return absl::InternalError("openIMIS facility count and list disagree");
  }
  return out;
}

absl::StatusOr<std::map<std::string, nlohmann::json>> Stack::MflFacilities() {
  std::map<std::string, nlohmann::json> out;
  for (int offset = 0;; offset += 1000) {
    absl::StatusOr<nlohmann::json> page = Http(
        "mfl", "GET", absl::StrCat("/fhir/Location?_count=1000&_getpagesoffset=", offset));
    if (!page.ok()) return page.status();
    const nlohmann::json& entries = (*page)["entry"];
    if (!entries.is_array() || entries.empty()) break;
    for (const nlohmann::json& e : entries) {
      const nlohmann::json& r = e["resource"];
      bool site = false;
      if (r.contains("physicalType")) {
        for (const auto& c : r["physicalType"]["coding"]) site |= c.value("code", "") == "si";
      }
      if (site) out[r.value("id", "")] = r;
    }
  }
  return out;
}

absl::StatusOr<v1::Run> Stack::WaitRun(const std::string& run_id, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  auto stub = Scheduler();
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetRunRequest req;
    req.set_run_id(run_id);
    v1::GetRunResponse resp;
    grpc::Status s = stub->GetRun(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    if (resp.run().state() != v1::RUN_STATE_RUNNING &&
        resp.run().state() != v1::RUN_STATE_PENDING) {
      return resp.run();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("run ", run_id, " did not end in time"));
}

absl::StatusOr<v1::Run> Stack::SyncAndWait(bool full, absl::Duration timeout, bool dry_run) {
  auto stub = Scheduler();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::TriggerSyncRequest req;
  req.set_source_id("mfl");
  req.set_full(full);
  req.set_dry_run(dry_run);
  v1::TriggerSyncResponse resp;
  grpc::Status s = stub->TriggerSync(&ctx, req, &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  if (resp.already_running()) return absl::FailedPreconditionError("a run was already running");
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  v1::WatchRunRequest watch;
  watch.set_run_id(resp.run().run_id());
  auto reader = stub->WatchRun(&watch_ctx, watch);
  v1::WatchRunResponse update;
  v1::Run last;
  while (reader->Read(&update)) last = update.run();
  s = reader->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  const v1::RunCounts& c = last.counts();
  std::cout << "[   RUN  ] " << last.run_id() << (full ? " full" : " incremental")
            << (dry_run ? " dry run" : "") << ": "
            << v1::RunState_Name(last.state()) << " fetched " << c.fetched() << ", created "
            << c.created() << ", updated " << c.updated() << ", unchanged " << c.unchanged()
            << ", rejected " << c.rejected() << ", failed " << c.failed() << ", skipped "
            << c.skipped() << ", duration " << last.duration_millis() << " ms\n";
  return last;
}

absl::StatusOr<std::vector<v1::Failure>> Stack::Failures(v1::FailureState state) {
  auto stub = Scheduler();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListFailuresRequest req;
  req.set_state(state);
  req.set_page_size(1000);
  v1::ListFailuresResponse resp;
  grpc::Status s = stub->ListFailures(&ctx, req, &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  return std::vector<v1::Failure>(resp.failures().begin(), resp.failures().end());
}

}  // namespace mflsync::e2e
