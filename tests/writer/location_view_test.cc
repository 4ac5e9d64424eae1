// The Location view check after a write, against a tiny loopback openIMIS
// whose facility Location disagrees with the Organization just written.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "writer/openimis_fhir.h"
#include "writer/writer_core.h"

namespace mflsync::writer {
namespace {

using nlohmann::json;

class DriftingOpenImis {
 public:
  DriftingOpenImis() {
    const std::string base = "/api/api_fhir_r4/";
    server_.Post(base + "login/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"token":"drift-token","exp":4102444800})", "application/json");
    });
    server_.Get(base + "Location/", [](const httplib::Request& req, httplib::Response& res) {
      json bundle = {{"resourceType", "Bundle"}, {"type", "searchset"},
                     {"entry", json::array()}};
      if (!req.has_param("physicalType")) {
        bundle["entry"].push_back(
            {{"resource",
              {{"resourceType", "Location"}, {"id", "dist-1"},
               {"identifier", {{{"type", {{"coding", {{{"code", "LC"}}}}}}, {"value", "D01"}}}},
               {"name", "District"}, {"physicalType", {{"coding", {{{"code", "D"}}}}}}}}});
      }
      res.set_content(bundle.dump(), "application/json");
    });
    server_.Get(base + "Organization/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"resourceType":"Bundle","type":"searchset","entry":[]})",
                      "application/json");
    });
    server_.Post(base + "Organization/", [](const httplib::Request& req,
                                            httplib::Response& res) {
      json org = json::parse(req.body);
      org["id"] = "hf-1";
      res.status = 201;
      res.set_content(org.dump(), "application/json");
    });
    server_.Get(base + "Location/hf-1/", [this](const httplib::Request&,
                                                httplib::Response& res) {
      mflsync::v1::HealthFacility stale;
      stale.set_uuid("hf-1");
      stale.set_code("HF1");
      stale.set_name(location_name_);
      stale.set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
      stale.set_district_uuid("dist-1");
      stale.set_active(true);
      res.set_content(LocationSiteBody(stale).dump(), "application/json");
    });
    server_.Put(base + "Location/hf-1/", [this](const httplib::Request& req,
                                                httplib::Response& res) {
      puts_.push_back(json::parse(req.body));
      if (req.get_param_value("physicalType") != "si") {
        res.status = 400;
        return;
      }
      res.set_content(req.body, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~DriftingOpenImis() {
    server_.stop();
    thread_.join();
  }
  std::string base() const {
    return absl::StrCat("http://127.0.0.1:", port_, "/api");
  }

  std::string location_name_ = "Stale Name";
  std::vector<json> puts_;

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

mflsync::v1::WriteFacilitiesRequest CreateRequest() {
  mflsync::v1::WriteFacilitiesRequest request;
  auto* item = request.add_items();
  item->set_record_key("k");
  item->set_action(mflsync::v1::WRITE_ACTION_CREATE);
  auto* f = item->mutable_facility();
  f->set_code("HF1");
  f->set_name("Fresh Name");
  f->set_level(mflsync::v1::FACILITY_LEVEL_DISPENSARY);
  f->set_care_type(mflsync::v1::CARE_TYPE_BOTH);
  f->set_legal_form("G");
  f->set_district_code("D01");
  f->set_active(true);
  return request;
}

WriterCoreOptions Options(const std::string& base) {
  WriterCoreOptions options;
  options.openimis.base_url = base;
  options.api = OpenImisApiKind::kFhir;
  options.openimis.username = "Admin";
  options.openimis.password = "pw";
  options.connections = 1;
  return options;
}

TEST(LocationViewTest, ADriftingLocationViewIsUpdated) {
  DriftingOpenImis server;
  WriterCore core(Options(server.base()));
  ASSERT_TRUE(core.Refresh().ok());
  auto response = core.Write(CreateRequest());
  ASSERT_TRUE(response.ok()) << response.status();
  const auto& r = response->results(0);
  EXPECT_EQ(r.outcome(), mflsync::v1::WRITE_OUTCOME_CREATED) << r.message();
  EXPECT_EQ(r.uuid(), "hf-1");
  EXPECT_NE(r.message().find("Location view differed"), std::string::npos) << r.message();
  ASSERT_EQ(server.puts_.size(), 1u);
  auto sent = FacilityFromLocation(server.puts_[0]);
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->name(), "Fresh Name");
  EXPECT_EQ(sent->code(), "HF1");
  EXPECT_EQ(sent->district_uuid(), "dist-1");
}

TEST(LocationViewTest, AConsistentViewIsLeftAlone) {
  DriftingOpenImis server;
  server.location_name_ = "Fresh Name";
  WriterCore core(Options(server.base()));
  ASSERT_TRUE(core.Refresh().ok());
  auto response = core.Write(CreateRequest());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->results(0).outcome(), mflsync::v1::WRITE_OUTCOME_CREATED);
  EXPECT_TRUE(server.puts_.empty());
}

TEST(LocationViewTest, AClosedFacilityIsMarkedInactiveInTheLocationView) {
  // The health-facility Organization has no status element: a facility the
  // MFL closed reaches openIMIS through the Location view's status.
  DriftingOpenImis server;
  server.location_name_ = "Fresh Name";
  WriterCore core(Options(server.base()));
  ASSERT_TRUE(core.Refresh().ok());
  auto request = CreateRequest();
  request.mutable_items(0)->mutable_facility()->set_active(false);
  auto response = core.Write(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->results(0).outcome(), mflsync::v1::WRITE_OUTCOME_CREATED);
  ASSERT_EQ(server.puts_.size(), 1u);
  EXPECT_EQ(server.puts_[0].value("status", ""), "inactive");
}

TEST(LocationViewTest, TheCheckCanBeTurnedOff) {
  DriftingOpenImis server;
  WriterCoreOptions options = Options(server.base());
  options.fhir.check_location_view = false;
  WriterCore core(options);
  ASSERT_TRUE(core.Refresh().ok());
  auto response = core.Write(CreateRequest());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->results(0).outcome(), mflsync::v1::WRITE_OUTCOME_CREATED);
  EXPECT_TRUE(server.puts_.empty());
}

}  // namespace
}  // namespace mflsync::writer
