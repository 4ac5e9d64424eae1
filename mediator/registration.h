// The mediator's registration document for openHIM (POST /mediators): urn,
// version, endpoints, default channels and configDefs, with the version rule
// that makes openHIM take a new settings schema.
#ifndef MFLSYNC_MEDIATOR_REGISTRATION_H_
#define MFLSYNC_MEDIATOR_REGISTRATION_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mediator/live_settings.h"

namespace mflsync::mediator {

// Version rule (docs: mediator/README.md). The registered version is
// "<kMediatorMajorMinor>.<kSettingsRevision>". openHIM replaces a stored
// registration only when the new version is semver-greater, so every change
// of the configDefs or of the default channels' shape must bump
// kSettingsRevision. SettingsFingerprint() hashes exactly that schema and a
// unit test pins it to kSettingsFingerprint: changing the schema without
// bumping the revision (and the pinned fingerprint) fails the test.
inline constexpr char kMediatorMajorMinor[] = "0.1";
// The default channel that routes POST /mflsync/sync to the mediator.
inline constexpr char kSyncChannelName[] = "mflsync sync";
inline constexpr int kSettingsRevision = 3;
inline constexpr char kSettingsFingerprint[] = "2e87a41928b2d75b";

// Where openHIM reaches the mediator and what it routes.
struct MediatorIdentity {
  std::string urn = "urn:mediator:mflsync";
  std::string name = "mflsync";
  std::string description =
      "Keeps openIMIS health facilities in step with the Master Facility List";
  std::string host = "127.0.0.1";  // as openHIM should reach the mediator
  int port = 8090;
  // The mediator's listener speaks HTTPS: its endpoint and routes are
  // `secured`, verified against openHIM's trusted CA `trusted_ca_id` (the
  // keystore id; empty: Node's public CAs).
  bool secured = false;
  std::string trusted_ca_id;
  // Optional upstream channels to install (empty: not installed): the MFL's
  // FHIR base and openIMIS's API root, proxied under /mfl/fhir and
  // /openimis/api so that openHIM logs every call.
  std::string mfl_url;
  std::string openimis_url;
  // Addresses admitted to the openIMIS channel without client credentials
  // (authType public + whitelist): the writer's Bearer token for openIMIS
  // takes the Authorization header, so it cannot also log in to openHIM with
  // Basic auth. Empty: the channel admits clients with role mflsync (mutual
  // TLS on the HTTPS router).
  std::vector<std::string> openimis_whitelist;
};

// "0.1.<revision>".
std::string MediatorVersion(int settings_revision = kSettingsRevision);

// 16 hex digits of FNV-1a 64 over the configDefs and the default channels'
// names, patterns, methods and route paths (not hosts, which are
// deployment data).
std::string SettingsFingerprint(const MediatorIdentity& identity);

// The default channels (openHIM channel objects). Route hosts/ports are the
// mediator's endpoint or the configured upstream URLs.
nlohmann::json DefaultChannels(const MediatorIdentity& identity, const Settings& settings);

// The routes of `stored` (a channel as openHIM holds it) with each route
// that the default channel `wanted` names brought to the wanted host,
// port, path, path transform, TLS and credentials; the other fields and
// routes (an administrator's) are kept. nullopt when nothing differs.
std::optional<nlohmann::json> UpdatedRoutes(const nlohmann::json& stored,
                                            const nlohmann::json& wanted);

// The full POST /mediators body; `config` holds `defaults`.
nlohmann::json BuildRegistration(const MediatorIdentity& identity, const Settings& defaults,
                                 const std::string& version);

}  // namespace mflsync::mediator

#endif  // MFLSYNC_MEDIATOR_REGISTRATION_H_
