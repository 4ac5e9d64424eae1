#include "common/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
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

// Every request rides the kept-alive connection, those that may write too.
// The server sees the client's port.
TEST(HttpClientTest, ReadsAndWritesReuseTheConnection) {
  LoopbackServer server;
  HttpClient client({});
  auto port_of = [&](bool read_only) {
    absl::StatusOr<HttpResponse> r = client.Send(
        {.method = "POST", .url = server.Url("/port"), .body = "{}", .read_only = read_only});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : std::string();
  };
  const std::string first = port_of(true);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(port_of(true), first);
  EXPECT_EQ(port_of(false), first);
  EXPECT_EQ(port_of(false), first);
}

// A raw HTTP/1.1 server on loopback that answers every request on kept-alive
// connections, except the `drop`-th (counting from 1), after reading which
// whole it closes the connection without an answer: a server restarted or a
// worker killed while it ran the request.
class DroppingServer {
 public:
  explicit DroppingServer(int drop) : drop_(drop) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener_, 8) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~DroppingServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  std::string Url() const { return absl::StrCat("http://127.0.0.1:", port_, "/m"); }
  // Every request received whole, in order: its body.
  std::vector<std::string> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void Serve() {
    for (;;) {
      const int connection = accept(listener_, nullptr, nullptr);
      if (connection < 0) return;
      ServeConnection(connection);
      close(connection);
    }
  }
  // Serves one connection until the client closes it or a request is dropped.
  void ServeConnection(int connection) {
    std::string buffer;
    for (;;) {
      std::optional<std::string> body = ReadRequest(connection, &buffer);
      if (!body.has_value()) return;
      int count = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(*body);
        count = static_cast<int>(received_.size());
      }
      if (count == drop_) return;  // read whole, never answered
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      if (send(connection, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) return;
    }
  }
  // The body of the next request on the connection (after its headers and
  // Content-Length), or nothing once the client closed it.
  static std::optional<std::string> ReadRequest(int connection, std::string* buffer) {
    size_t end = std::string::npos;
    while ((end = buffer->find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(connection, buffer)) return std::nullopt;
    }
    const std::string headers = absl::AsciiStrToLower(buffer->substr(0, end));
    size_t length = 0;
    const size_t at = headers.find("content-length:");
    if (at != std::string::npos) length = std::stoul(headers.substr(at + 15));
    while (buffer->size() < end + 4 + length) {
      if (!ReadMore(connection, buffer)) return std::nullopt;
    }
    std::string body = buffer->substr(end + 4, length);
    buffer->erase(0, end + 4 + length);
    return body;
  }
  static bool ReadMore(int connection, std::string* buffer) {
    char chunk[4096];
    const ssize_t n = recv(connection, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }

  const int drop_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> received_;
};

// The case the keep-alive rule is for: the server received a write on a
// reused connection and closed it without an answer. libcurl would send the
// request again on a fresh connection by itself; a write must not be (it may
// have run), so it fails UNAVAILABLE and the server saw it once. A read-only
// request is sent again, and that second sending is answered.
TEST(HttpClientTest, AWriteIsNeverSentAgainAfterAReusedConnectionDropped) {
  DroppingServer server(/*drop=*/2);
  HttpClient client({});
  absl::StatusOr<HttpResponse> first =
      client.Send({.method = "POST", .url = server.Url(), .body = "create 1"});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<HttpResponse> second =
      client.Send({.method = "POST", .url = server.Url(), .body = "create 2"});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_NE(second.status().message().find("may have received and run it"), std::string::npos)
      << second.status();
  EXPECT_EQ(server.received(), (std::vector<std::string>{"create 1", "create 2"}));
  // The next write opens a fresh connection.
  absl::StatusOr<HttpResponse> third =
      client.Send({.method = "POST", .url = server.Url(), .body = "create 3"});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(server.received().size(), 3u);
}

// A read-only POST (a GraphQL query) and an idempotent PUT are sent again,
// and that second sending is answered.
TEST(HttpClientTest, ReadsAndPutsAreSentAgainAfterAReusedConnectionDropped) {
  for (const bool put : {false, true}) {
    DroppingServer server(/*drop=*/2);
    HttpClient client({});
    auto send = [&](const std::string& body) {
      return client.Send({.method = put ? "PUT" : "POST", .url = server.Url(), .body = body,
                          .read_only = !put});
    };
    ASSERT_TRUE(send("first").ok());
    absl::StatusOr<HttpResponse> second = send("second");
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->body, "ok");
    EXPECT_EQ(server.received(), (std::vector<std::string>{"first", "second", "second"}))
        << (put ? "PUT" : "read-only POST");
  }
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
