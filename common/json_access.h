// Lenient reads of JSON received from a peer (FHIR resources, GraphQL
// answers): a missing or mistyped member reads as empty, so that the caller
// decides what an empty value means.
#ifndef MFLSYNC_COMMON_JSON_ACCESS_H_
#define MFLSYNC_COMMON_JSON_ACCESS_H_

#include <string>

#include <nlohmann/json.hpp>

namespace mflsync {

// The string at `key` of `object`, or "" when `object` is not an object or
// the member is absent or not a string.
std::string StringAt(const nlohmann::json& object, const char* key);

}  // namespace mflsync

#endif  // MFLSYNC_COMMON_JSON_ACCESS_H_
