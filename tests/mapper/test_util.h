// Shared fixtures for the mapper tests: a small mapping document and a
// Kenya-shaped facility record that maps cleanly, to be broken one rule at a
// time.
#ifndef MFLSYNC_TESTS_MAPPER_TEST_UTIL_H_
#define MFLSYNC_TESTS_MAPPER_TEST_UTIL_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mflsync/v1/records.pb.h"

namespace mflsync::mapper::testing {

inline constexpr char kCodeSystem[] = "https://kmhfl.health.go.ke/facility-code";
inline constexpr char kTypeSystem[] = "https://kmhfl.health.go.ke/facility-type";
inline constexpr char kOwnerSystem[] = "https://kmhfl.health.go.ke/owner-type";
inline constexpr char kServicesUrl[] =
    "https://mflsync.example/fhir/StructureDefinition/facility-services";

inline nlohmann::json TestMappingJson() {
  return nlohmann::json::parse(R"({
    "schema_version": 1,
    "name": "test mapping",
    "national_id": {"system": "https://kmhfl.health.go.ke/facility-code"},
    "hf_code": {"max_length": 8, "deleted_location_id_prefix": "fac-",
                "deleted_ignore_prefixes": ["ward-", "subcounty-"]},
    "facility_type": {"system": "https://kmhfl.health.go.ke/facility-type"},
    "facility_types": [
      {"match": "Dispensary", "level": "COMM", "care_type": "O"},
      {"match": "Basic Health Centre", "level": "OF"},
      {"match": "Primary care hospitals", "level": "HOSP", "care_type": "B"},
      {"match": "Farewell Home", "exclude": "a mortuary is not a care provider"}
    ],
    "owner": {"system": "https://kmhfl.health.go.ke/owner-type"},
    "owners": [
      {"match": "Ministry of Health", "legal_form": "G"},
      {"match": "Private Practice", "legal_form": "P"}
    ],
    "services": {
      "extension_url": "https://mflsync.example/fhir/StructureDefinition/facility-services",
      "inpatient": ["IPD"], "outpatient": ["OPD"]
    },
    "areas": {"sources": ["part_of", "address"], "districts": [
      {"code": "KE0101", "name": "Laikipia East", "region_code": "KE01",
       "part_of": ["Location/subcounty-laikipia-east", "Location/ward-nanyuki"],
       "address": [{"state": "Laikipia", "district": "Laikipia East"}]},
      {"code": "KE0102", "name": "Laikipia West", "region_code": "KE01",
       "address": [{"state": "Laikipia", "district": "Laikipia West"}]}
    ]},
    "crosswalk": [
      {"national_id": "123456789", "hf_code": "X0000001"},
      {"national_id": "55555", "hf_code": "X0000002", "location_id": "loc-old-55555"}
    ]
  })");
}

inline nlohmann::json GoodLocation() {
  return nlohmann::json::parse(R"({
    "resourceType": "Location",
    "id": "fac-14180",
    "meta": {"versionId": "1", "lastUpdated": "2014-03-01T10:00:00.000Z"},
    "extension": [
      {"url": "https://mflsync.example/fhir/StructureDefinition/facility-services", "valueCode": "ANC"}
    ],
    "identifier": [{"system": "https://kmhfl.health.go.ke/facility-code", "value": "14180"}],
    "status": "active",
    "name": "10 Engineer  VCT",
    "mode": "instance",
    "type": [{"coding": [{"system": "https://kmhfl.health.go.ke/facility-type",
                          "code": "DISPENSARY", "display": "DISPENSARY"}], "text": "DISPENSARY"}],
    "telecom": [{"system": "phone", "value": "+254 700 000000"},
                {"system": "email", "value": "info@example.org"}],
    "address": {"city": "Nanyuki", "district": "Laikipia East", "state": "Laikipia", "country": "KE"},
    "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "si"}]},
    "position": {"longitude": 37.07, "latitude": 0.01},
    "managingOrganization": {"reference": "Organization/owner-ministry-of-health", "display": "Ministry of Health"},
    "partOf": {"reference": "Location/ward-nanyuki", "display": "Nanyuki"}
  })");
}

inline nlohmann::json GoodOrganization() {
  return nlohmann::json::parse(R"({
    "resourceType": "Organization", "id": "owner-ministry-of-health", "active": true,
    "type": [{"coding": [{"system": "https://kmhfl.health.go.ke/owner-type",
                          "code": "Ministry of Health"}]}],
    "name": "Ministry of Health"
  })");
}

inline nlohmann::json GoodEndpoint() {
  return nlohmann::json::parse(R"({
    "resourceType": "Endpoint", "id": "endpoint-14180", "status": "active",
    "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
    "payloadType": [{"text": "Location"}],
    "address": "https://example.org/fhir/14180"
  })");
}

inline v1::SourceRecord Record(const nlohmann::json& location,
                               const nlohmann::json& organization = GoodOrganization()) {
  v1::SourceRecord r;
  r.set_source_id("test");
  r.set_location_id(location.is_object() && location.contains("id") && location["id"].is_string()
                        ? location["id"].get<std::string>()
                        : "fac-14180");
  r.set_location_json(location.dump());
  if (!organization.is_null()) r.set_organization_json(organization.dump());
  return r;
}

}  // namespace mflsync::mapper::testing

#endif  // MFLSYNC_TESTS_MAPPER_TEST_UTIL_H_
