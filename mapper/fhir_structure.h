// Strict structural and syntactic validation of the FHIR R4 resources the
// mapper consumes (Location, Organization, Endpoint), from element tables
// generated from the official R4 JSON schema plus the rules it cannot say.
#ifndef MFLSYNC_MAPPER_FHIR_STRUCTURE_H_
#define MFLSYNC_MAPPER_FHIR_STRUCTURE_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/rejection.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::mapper {

// One element of a generated type table.
struct GeneratedProperty {
  std::string name;
  std::string type;  // a primitive ("code"), a complex type, or "ResourceList"
  bool array = false;
  std::vector<std::string> enum_values;  // required binding; empty when none
};

// One complex type or resource of the generated table.
struct GeneratedType {
  std::string name;
  std::vector<std::string> required;
  std::vector<GeneratedProperty> properties;
};

// The generated tables (fhir_structure_gen.cc).
const std::vector<GeneratedType>& GeneratedFhirTypes();

// Validates FHIR R4 JSON resources strictly: unknown elements, wrong JSON
// types, cardinality, required-binding codes, primitive syntax (id, code,
// uri, string, instant, dateTime, date, time, decimal, integers, base64),
// reference syntax, period order, position ranges, extension shape.
// Thread-safe after construction; build it once (tables are shared).
class FhirValidator {
 public:
  FhirValidator();

  // Validates `resource` as a resource of type `expected_type`; appends one
  // rejection per problem (at most `max_problems`), paths like
  // "Location.telecom[0].system". Returns true when none was found.
  bool Validate(const nlohmann::json& resource, absl::string_view expected_type,
                std::vector<v1::Rejection>* out, size_t max_problems = 20) const;

  // Checks one primitive value of FHIR type `type` ("id", "instant", ...);
  // returns an empty string when valid, otherwise why not.
  static std::string CheckPrimitive(absl::string_view type, const nlohmann::json& value);

  // True for "Type/id", absolute URLs ending in Type/id (optionally with
  // /_history/v), "#local" and urn:uuid:/urn:oid: references.
  static bool IsValidReference(absl::string_view reference);

 private:
  struct Property {
    std::string type;
    bool array = false;
    bool primitive = false;
    std::vector<std::string> enum_values;
  };
  struct Type {
    std::vector<std::string> required;
    absl::flat_hash_map<std::string, Property> properties;
  };
  struct Context;

  void ValidateComplex(const nlohmann::json& value, const std::string& type_name,
                       const std::string& path, int depth, Context* ctx) const;
  void ValidateValue(const nlohmann::json& value, const Property& prop,
                     const std::string& path, int depth, Context* ctx) const;
  void SemanticChecks(const nlohmann::json& value, const std::string& type_name,
                      const std::string& path, Context* ctx) const;

  absl::flat_hash_map<std::string, Type> types_;
};

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_FHIR_STRUCTURE_H_
