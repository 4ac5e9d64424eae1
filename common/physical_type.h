// Whether an MFL Location is a site (a facility) by its physicalType: the
// one reading of physicalType from a parsed Location (done once, by whoever
// builds the record) and the one rule applied to it.
#ifndef MFLSYNC_COMMON_PHYSICAL_TYPE_H_
#define MFLSYNC_COMMON_PHYSICAL_TYPE_H_

#include <string>

#include <nlohmann/json.hpp>

#include "mflsync/v1/records.pb.h"

namespace mflsync {

// The physicalType codes of a parsed Location (see v1::PhysicalType: empty
// when a coding is malformed or there is none).
v1::PhysicalType PhysicalTypeOf(const nlohmann::json& location);

// Why a Location with this physicalType is not a site ("physicalType jdn:
// not a site (si)"), or empty when it is one or may be one: a code "si"
// among them, or no codes (the mapper judges those).
std::string NotASite(const v1::PhysicalType& physical_type);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_PHYSICAL_TYPE_H_
