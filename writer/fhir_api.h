// OpenImisApi over openIMIS's FHIR R4 module (`openimis.api: fhir`): the
// health-facility Organization (type prov) for writes, Location searches for
// the index and look-ups. The released module (api-fhir-r4 1.10.0) cannot
// write health facilities; where its known defects show, the attempt is
// kFatal with one line naming the defect and the setting to change.
#ifndef MFLSYNC_WRITER_FHIR_API_H_
#define MFLSYNC_WRITER_FHIR_API_H_

#include <memory>
#include <optional>
#include <string>

#include "writer/openimis_api.h"
#include "writer/openimis_client.h"

namespace mflsync::writer {

struct FhirApiOptions {
  // After each write, read the facility's Location (si) view and PUT it when
  // code, name, level, parent or status differ from what was written.
  bool check_location_view = true;
  // Also page the HF Organizations during the index load (care type, legal
  // form, address and contacts).
  bool index_organizations = true;
};

class FhirApi final : public OpenImisApi {
 public:
  FhirApi(std::shared_ptr<OpenImisSession> session, FhirApiOptions options);

  std::string name() const override { return "FHIR R4"; }
  // The Location (si) view lacks care type, legal form, address, contacts.
  bool complete_reads() const override { return false; }
  absl::Status LoadIndex(SnapshotBuilder& builder, int page_size) override;
  absl::StatusOr<std::optional<mflsync::v1::HealthFacility>> FindByCode(
      const std::string& code) override;
  WriteAttempt Create(const mflsync::v1::HealthFacility& facility) override;
  WriteAttempt Update(const mflsync::v1::HealthFacility& facility) override;
  // The Location view check (CheckLocationView), an error when it fails.
  absl::Status FinishWrite(const mflsync::v1::HealthFacility& stored) override;

  OpenImisClient& client() { return client_; }

 private:
  // One write request: POST Organization/ or PUT Organization/<uuid>/.
  WriteAttempt Send(absl::string_view method, const std::string& path,
                    const mflsync::v1::HealthFacility& facility);
  // Reads the Location (si) view of a written facility and PUTs it when it
  // differs; returns a note for the result message (empty when all was in
  // line), or why the view could not be checked or brought in line.
  absl::StatusOr<std::string> CheckLocationView(const mflsync::v1::HealthFacility& facility);

  OpenImisClient client_;
  FhirApiOptions options_;
};

// The one-line explanation when `response` to `operation` ("POST
// Organization/", ...) is one of the released FHIR module's known defects,
// or empty.
std::string KnownFhirDefect(absl::string_view operation, const HttpResponse& response);

}  // namespace mflsync::writer

#endif  // MFLSYNC_WRITER_FHIR_API_H_
