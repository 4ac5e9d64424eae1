// A loaded, validated mapping file: the country-specific tables that turn an
// MFL facility into openIMIS codes (facility type → level, owner → legal
// form, services → care type, area → district, national id → HF code).
#ifndef MFLSYNC_MAPPER_MAPPING_H_
#define MFLSYNC_MAPPER_MAPPING_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mflsync/v1/records.pb.h"

namespace mflsync::mapper {

// The schema version this build reads.
inline constexpr int kMappingSchemaVersion = 1;

// openIMIS HF level for one national facility type, or an exclusion.
struct FacilityTypeEntry {
  std::string match;                   // as written in the file
  v1::FacilityLevel level = v1::FACILITY_LEVEL_UNSPECIFIED;
  v1::CareType default_care_type = v1::CARE_TYPE_UNSPECIFIED;  // optional
  std::string exclude_reason;          // non-empty: never a facility
};

// One openIMIS district and the MFL areas that fall in it.
struct DistrictEntry {
  std::string code;         // openIMIS location code (≤ 8)
  std::string name;
  std::string region_code;  // optional
};

class Mapping {
 public:
  // Reads and validates a mapping file; errors name the file, the table and
  // the entry ("kenya.json: facility_types[3].level: 'X' is not ...").
  static absl::StatusOr<Mapping> LoadFile(const std::string& path);
  // Validates a parsed document; `source` names it in errors.
  static absl::StatusOr<Mapping> FromJson(const nlohmann::json& doc,
                                          const std::string& source);

  // The normalised lookup key of a table value (case folded, spaces
  // trimmed and collapsed, per the file's `normalisation`).
  std::string Normalise(absl::string_view value) const;

  const std::string& source() const { return source_; }
  int schema_version() const { return schema_version_; }
  const std::string& name() const { return name_; }

  // national_id.system: the identifier system of the national facility id.
  const std::string& national_id_system() const { return national_id_system_; }
  // hf_code.max_length (openIMIS: 8).
  size_t hf_code_max_length() const { return hf_code_max_length_; }
  // hf_code.deleted_location_id_prefix: Location.id = prefix + national id.
  const std::string& deleted_location_id_prefix() const { return deleted_prefix_; }
  // hf_code.deleted_ignore_prefixes: deleted Location ids that are not
  // facilities (jurisdictions); their deletion changes nothing in openIMIS.
  bool IsIgnoredDeletion(absl::string_view location_id) const;
  // facility_type.system and owner.system: the coding systems read.
  const std::string& facility_type_system() const { return facility_type_system_; }
  const std::string& owner_system() const { return owner_system_; }
  // owner.use_reference_display: fall back to managingOrganization.display.
  bool owner_use_reference_display() const { return owner_use_display_; }
  // services.extension_url and the in/out-patient service codes.
  const std::string& services_extension_url() const { return services_url_; }
  bool IsInpatientService(absl::string_view code) const;
  bool IsOutpatientService(absl::string_view code) const;
  // areas.sources: "part_of" and/or "address", in order of preference.
  const std::vector<std::string>& area_sources() const { return area_sources_; }

  // Table look-ups; nullptr when the value is not in the table.
  const FacilityTypeEntry* FindFacilityType(absl::string_view raw) const;
  const std::string* FindLegalForm(absl::string_view raw_owner) const;
  // By a partOf reference "Location/<id>" (exact, not normalised).
  const DistrictEntry* FindDistrictByPartOf(absl::string_view reference) const;
  // By address state (region) and district names.
  const DistrictEntry* FindDistrictByAddress(absl::string_view state,
                                             absl::string_view district) const;
  // Crosswalk: national id value → HF code; and Location.id → national id.
  const std::string* CrosswalkCode(absl::string_view national_id) const;
  const std::string* CrosswalkNationalIdOfLocation(absl::string_view location_id) const;
  // The national id whose crosswalk entry uses `hf_code`, or nullptr.
  const std::string* CrosswalkOwnerOfCode(absl::string_view hf_code) const;

  // Entries per table, for GetMappingInfo.
  std::map<std::string, int> TableSizes() const;

 private:
  friend class MappingLoader;  // reads the file's sections (mapping.cc)

  std::string source_;
  int schema_version_ = 0;
  std::string name_;
  bool fold_case_ = true;
  bool collapse_spaces_ = true;
  bool ignore_punctuation_ = false;
  std::string national_id_system_;
  size_t hf_code_max_length_ = 8;
  std::string deleted_prefix_;
  std::vector<std::string> deleted_ignore_prefixes_;
  std::string facility_type_system_;
  std::string owner_system_;
  bool owner_use_display_ = false;
  std::string services_url_;
  std::vector<std::string> inpatient_, outpatient_;
  std::vector<std::string> area_sources_;
  absl::flat_hash_map<std::string, FacilityTypeEntry> facility_types_;
  absl::flat_hash_map<std::string, std::string> legal_forms_;
  std::vector<DistrictEntry> districts_;
  absl::flat_hash_map<std::string, size_t> district_by_part_of_;
  absl::flat_hash_map<std::string, size_t> district_by_address_;
  absl::flat_hash_map<std::string, std::string> crosswalk_;
  absl::flat_hash_map<std::string, std::string> crosswalk_by_location_;
  absl::flat_hash_map<std::string, std::string> crosswalk_code_owner_;
};

// Level and care type letters as openIMIS writes them.
absl::string_view LevelLetter(v1::FacilityLevel level);    // "D", "C", "H"
absl::string_view CareTypeLetter(v1::CareType care_type);  // "I", "O", "B"

}  // namespace mflsync::mapper

#endif  // MFLSYNC_MAPPER_MAPPING_H_
