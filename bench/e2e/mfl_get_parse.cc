// The GET+parse limit of the end-to-end benchmark (bench/e2e): fetches every
// page of the same search the fetcher runs against the MFL stand-in (same
// query, page size and _include), with the same HTTP client
// (common/http_client.h), parses each page with nlohmann::json and counts
// the entries — no join, no protobuf, no gRPC, no mapping, no writes. The
// pipeline's time is reported as a ratio of this one.
//
// Usage: mfl_get_parse --base http://127.0.0.1:8081/fhir [--page-size 1000]
// Prints one JSON object on stdout.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http_client.h"

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base;
  int page_size = 1000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--base") && i + 1 < argc) {
      base = argv[++i];
    } else if (!std::strcmp(argv[i], "--page-size") && i + 1 < argc) {
      page_size = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: mfl_get_parse --base URL [--page-size N]\n";
      return 2;
    }
  }
  if (base.empty() || page_size <= 0) {
    std::cerr << "usage: mfl_get_parse --base URL [--page-size N]\n";
    return 2;
  }
  // The fetcher's search (fetcher/fetcher.cc SearchUrl, full sync: no
  // _lastUpdated): Location + its Organization and Endpoints, sorted.
  std::string url = absl::StrCat(
      base, "/Location?_include=Location%3Aorganization&_include=Location%3Aendpoint&_count=",
      page_size, "&_sort=_lastUpdated");
  mflsync::HttpClientOptions options;
  options.max_response_bytes = 256u << 20;
  mflsync::HttpClient client(options);
  long pages = 0, matches = 0, includes = 0, bytes = 0;
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  while (!url.empty()) {
    mflsync::HttpRequest req;
    req.url = url;
    req.headers.emplace_back("Accept", "application/fhir+json");
    absl::StatusOr<mflsync::HttpResponse> resp = client.Send(req);
    if (!resp.ok() || resp->status != 200) {
      std::cerr << "GET " << url << " failed: "
                << (resp.ok() ? absl::StrCat("HTTP ", resp->status)
                              : std::string(resp.status().message()))
                << "\n";
      return 1;
    }
    ++pages;
    bytes += static_cast<long>(resp->body.size());
    nlohmann::json bundle = nlohmann::json::parse(resp->body);
    url.clear();
    if (auto e = bundle.find("entry"); e != bundle.end() && e->is_array()) {
      for (const nlohmann::json& entry : *e) {
        const nlohmann::json* mode = nullptr;
        if (auto s = entry.find("search"); s != entry.end()) {
          if (auto m = s->find("mode"); m != s->end()) mode = &*m;
        }
        if (mode != nullptr && *mode == "include") {
          ++includes;
        } else {
          ++matches;
        }
      }
    }
    if (auto l = bundle.find("link"); l != bundle.end() && l->is_array()) {
      for (const nlohmann::json& link : *l) {
        if (link.value("relation", "") == "next") url = link.value("url", "");
      }
    }
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
  nlohmann::json out = {{"pages", pages},         {"matches", matches},
                        {"includes", includes},   {"bytes", bytes},
                        {"wall_s", wall},         {"cpu_s", CpuSeconds() - cpu0},
                        {"matches_per_s", wall > 0 ? matches / wall : 0.0}};
  std::cout << out.dump() << std::endl;
  return 0;
}
