#include "common/http_client.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <httplib.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace mflsync {
namespace {

// A real HTTP server on loopback.
class LoopbackServer {
 public:
  LoopbackServer() {
    server_.Get("/ok", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Echo-Auth", req.get_header_value("Authorization"));
      res.set_content(R"({"resourceType":"Bundle"})", "application/fhir+json");
    });
    server_.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("{}", "application/fhir+json");
    });
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("late", "text/plain");
    });
    server_.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(200000, 'x'), "text/plain");
    });
    server_.Post("/port", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.remote_port), "text/plain");
    });
    server_.Put("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 201;
      res.set_content(req.body, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpClientTest, GetReturnsBodyAndHeaders) {
  LoopbackServer server;
  HttpClient client({});
  absl::StatusOr<HttpResponse> r = client.Send(
      {.url = server.Url("/ok"), .headers = {{"Authorization", BasicAuthHeader("u", "p")}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"resourceType":"Bundle"})");
  EXPECT_EQ(r->Header("content-type"), "application/fhir+json");
  EXPECT_EQ(r->Header("x-echo-auth"), "Basic dTpw");
  // The connection is reused for the next request.
  absl::StatusOr<HttpResponse> again = client.Send({.url = server.Url("/ok")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Header("x-echo-auth"), "");
}

// A POST that may change something never rides a reused connection (libcurl
// would send it again, unasked, if that connection had been closed); a
// read-only POST (a GraphQL query) does. The server sees the client's port.
TEST(HttpClientTest, OnlyReadOnlyPostsReuseTheConnection) {
  LoopbackServer server;
  HttpClient client({});
  auto port_of = [&](bool read_only) {
    absl::StatusOr<HttpResponse> r = client.Send(
        {.method = "POST", .url = server.Url("/port"), .body = "{}", .read_only = read_only});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : std::string();
  };
  const std::string first = port_of(true);
  EXPECT_EQ(port_of(true), first) << "a read-only POST reused the connection";
  const std::string write = port_of(false);
  EXPECT_NE(write, first) << "a POST that may write opened a fresh connection";
  EXPECT_NE(port_of(false), write);
}

TEST(HttpClientTest, HttpErrorsAreResponses) {
  LoopbackServer server;
  HttpClient client({});
  absl::StatusOr<HttpResponse> r = client.Send({.url = server.Url("/missing")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
}

TEST(HttpClientTest, PutSendsBody) {
  LoopbackServer server;
  HttpClient client({});
  absl::StatusOr<HttpResponse> r =
      client.Send({.method = "PUT", .url = server.Url("/echo"), .body = "{\"a\":1}"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"a\":1}");
}

TEST(HttpClientTest, TimeoutIsDeadlineExceeded) {
  LoopbackServer server;
  HttpClientOptions options;
  options.request_timeout = absl::Milliseconds(300);
  HttpClient client(options);
  absl::StatusOr<HttpResponse> r = client.Send({.url = server.Url("/slow")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_NE(r.status().message().find("GET http://127.0.0.1:"), std::string::npos);
}

TEST(HttpClientTest, OversizedBodyIsResourceExhausted) {
  LoopbackServer server;
  HttpClientOptions options;
  options.max_response_bytes = 1000;
  HttpClient client(options);
  absl::StatusOr<HttpResponse> r = client.Send({.url = server.Url("/big")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("exceeds the limit of 1000 bytes"), std::string::npos);
}

TEST(HttpClientTest, RefusedIsUnavailableAndRedacted) {
  HttpClient client({});
  // Port 1 on loopback: nothing listens there.
  absl::StatusOr<HttpResponse> r = client.Send({.url = "http://user:pw@127.0.0.1:1/x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(r.status().message().find("user:pw"), std::string::npos);
}

TEST(HttpClientTest, OtherSchemesRefused) {
  HttpClient client({});
  absl::StatusOr<HttpResponse> r = client.Send({.url = "file:///etc/passwd"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

}  // namespace
}  // namespace mflsync
