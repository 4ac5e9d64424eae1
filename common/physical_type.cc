#include "common/physical_type.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/utf8.h"

namespace mflsync {
namespace {

// A coding's code, when the coding is an object with a string code.
const std::string* CodeOf(const nlohmann::json& coding) {
  if (!coding.is_object()) return nullptr;
  auto code = coding.find("code");
  if (code == coding.end() || !code->is_string()) return nullptr;
  return &code->get_ref<const std::string&>();
}

}  // namespace

v1::PhysicalType PhysicalTypeOf(const nlohmann::json& location) {
  v1::PhysicalType out;
  if (!location.is_object()) return out;
  auto pt = location.find("physicalType");
  if (pt == location.end() || !pt->is_object()) return out;
  auto coding = pt->find("coding");
  if (coding == pt->end() || !coding->is_array()) return out;
  for (const nlohmann::json& c : *coding) {
    const std::string* code = CodeOf(c);
    if (code == nullptr) {
      out.clear_codes();
      return out;
    }
    out.add_codes(SafeUtf8(*code, 64));
  }
  return out;
}

std::string NotASite(const v1::PhysicalType& physical_type) {
  if (physical_type.codes().empty()) return "";
  std::vector<std::string> codes;
  for (const std::string& code : physical_type.codes()) {
    if (code == "si") return "";
    codes.push_back(SafeUtf8(code, 40));
  }
  return absl::StrCat("physicalType ", absl::StrJoin(codes, ","), ": not a site (si)");
}

}  // namespace mflsync
