#include "common/rejection.h"

#include <string>

#include "common/utf8.h"

namespace mflsync {

v1::Rejection MakeRejection(absl::string_view path, absl::string_view rule,
                            absl::string_view value, absl::string_view message) {
  v1::Rejection r;
  r.set_fhir_path(SafeUtf8(path, 1000));
  r.set_rule(std::string(rule));
  r.set_value(SafeUtf8(value, 200));
  r.set_message(SafeUtf8(message, 2000));
  return r;
}

void AddRejection(std::vector<v1::Rejection>* out, absl::string_view path,
                  absl::string_view rule, absl::string_view value,
                  absl::string_view message) {
  out->push_back(MakeRejection(path, rule, value, message));
}

}  // namespace mflsync
