// The same fetch against a third-party FHIR server: @medplum/fhir-router's
// MemoryRepository behind testbed/medplum/server.mjs, seeded with the HL7
// R4 examples and the converted Kenya MFL. All 13,733 facilities must arrive
// exactly once, each with its owner Organization. Skips with a message when
// ../shared/data, node or the npm packages are absent.
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fetcher/fetcher.h"
#include "tests/fetcher/mfl_standin.h"

namespace mflsync::fetcher {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(FetcherMedplumTest, AllKenyaFacilitiesArriveExactlyOnceWithTheirOwner) {
  const std::string src = mflsync::testing::SourceDir();
  const std::string shared = src + "/../shared/data";
  const std::string csv = shared + "/kenya-mfl/mfl_2014-05-12.csv";
  const std::string examples = shared + "/fhir-r4-examples";
  if (!Exists(csv) || !Exists(examples))
    GTEST_SKIP() << "needs " << shared << " (kenya-mfl CSV and fhir-r4-examples); absent";
  const std::string modules = src + "/.deps/node/node_modules";
  if (!Exists(modules + "/@medplum/fhir-router/package.json"))
    GTEST_SKIP() << "needs @medplum/fhir-router@5.2.13 in " << modules
                 << " (installed by scripts/install-deps.sh from tools/node/package.json)";
  if (std::system("node --version > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs node (20+) on PATH";

  // Convert the Kenya CSV to FHIR NDJSON in a scratch folder.
  char tmpl[] = "/tmp/mflsync-medplum-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string ndjson = dir + "/kenya.ndjson";
  const std::string convert =
      absl::StrCat("python3 '", src, "/testbed/data_tools/kenya_mfl_to_fhir.py' --csv '", csv,
                   "' --out '", ndjson, "' 2> '", dir, "/convert.log'");
  ASSERT_EQ(std::system(convert.c_str()), 0) << convert;

  mflsync::testing::MflStandIn medplum;
  absl::Status started = medplum.StartCommand(
      {"node", "--experimental-websocket", src + "/testbed/medplum/server.mjs", "--port", "0",
       "--ready-file", "{ready}", "--modules", modules, "--ndjson", ndjson, "--examples",
       examples},
      absl::Seconds(90));
  ASSERT_TRUE(started.ok()) << started;

  SourceConfig source;
  source.name = "medplum";
  source.base_url = medplum.BaseUrl();
  // medplum refuses a search whose matches plus includes exceed ~1000
  // ("reached query scope limit"), so pages stay at 500.
  source.page_size = 500;
  source.retry.initial_backoff = absl::Milliseconds(20);
  // medplum's search parameter for the managing organization.
  source.include_organization_value = "Location:organization";
  Fetcher fetcher(source);
  std::map<std::string, int> seen;
  int64_t facilities = 0, with_owner = 0, without_owner_ref = 0, records = 0, pages = 0;
  std::map<std::string, int> owner_counts;
  absl::Status status = fetcher.Fetch(FetchOptions{}, [&](v1::FetchChangesResponse& page) {
    ++pages;
    for (const v1::SourceRecord& r : page.records()) {
      ++records;
      ++seen[r.location_id()];
      if (!absl::StartsWith(r.location_id(), "fac-")) continue;
      ++facilities;
      nlohmann::json loc = nlohmann::json::parse(r.location_json(), nullptr, false);
      if (!loc.contains("managingOrganization")) {
        ++without_owner_ref;
        continue;
      }
      nlohmann::json org = nlohmann::json::parse(r.organization_json(), nullptr, false);
      if (org.is_object() && org.value("resourceType", "") == "Organization" &&
          absl::StrCat("Organization/", org.value("id", "")) ==
              loc["managingOrganization"].value("reference", "")) {
        ++with_owner;
        ++owner_counts[org.value("id", "")];
      }
    }
    return true;
  });
  medplum.Stop();
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  ASSERT_TRUE(status.ok()) << status;

  EXPECT_EQ(facilities, 13733);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id << " arrived " << n << " times";
  // Every facility that names an owner arrives with that Organization; the
  // converter leaves managingOrganization out only for a blank owner.
  EXPECT_EQ(with_owner + without_owner_ref, 13733);
  EXPECT_LE(without_owner_ref, 10);
  EXPECT_EQ(owner_counts.size(), 4u);
  // Jurisdictions and the HL7 example Locations come along too.
  EXPECT_GT(records, 13733 + 1800);
  EXPECT_GE(pages, 31);
  RecordProperty("pages", static_cast<int>(pages));
  RecordProperty("requests", static_cast<int>(fetcher.stats().requests));
}

}  // namespace
}  // namespace mflsync::fetcher
