"""FHIR R4 <-> openIMIS conversion and validation, modelled on
openimis-be-api_fhir_r4_py (locationSiteConverter.py, locationConverter.py,
healthFacilityOrganisationConverter.py, exceptions.py, operationOutcomeConverter.py).

Error texts marked CONFIRMED are copied from the openIMIS source; the others are
the stand-in's own (see README "confirmed vs inferred").
"""

IG_BASE = "https://openimis.github.io/openimis_fhir_r4_ig/"
IDENTIFIER_TYPE_SYSTEM = IG_BASE + "CodeSystem/openimis-identifiers"
PHYSICAL_TYPE_SITE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
AREA_PHYSICAL_TYPE_SYSTEM = IG_BASE + "/CodeSystem/location-type"   # double slash as in openIMIS
SITE_TYPE_SYSTEM = "http://hl7.org/fhir/v3/ServiceDeliveryLocationRoleType/vs.html"
# openIMIS builds some URLs as f'{base}/...' with a base ending in '/', hence '//'.
EXT_LEGAL_FORM = IG_BASE + "StructureDefinition/organization-legal-form"
EXT_HF_LEVEL = IG_BASE + "/StructureDefinition/organization-hf-level"
EXT_CARE_TYPE = IG_BASE + "StructureDefinition/organization-hf-care-type"
EXT_ADDRESS_LOCATION = IG_BASE + "/StructureDefinition/address-location-reference"
LEGAL_FORM_SYSTEM = "CodeSystem/organization-legal-form"
LEVEL_SYSTEM = IG_BASE + "/CodeSystem/organization-hf-level"
CARE_TYPE_SYSTEM = IG_BASE + "/CodeSystem/organization-hf-care-type"

LEVEL_TO_SITE_TYPE = {"H": ("HOSP", "hospital"), "D": ("COMM", "dispensary"),
                      "C": ("OF", "health-center")}
SITE_TYPE_TO_LEVEL = {"HOSP": "H", "COMM": "D", "OF": "C"}
LEVEL_DISPLAY = {"D": "Dispensary", "C": "Health Centre", "H": "Hospital"}
CARE_TYPE_DISPLAY = {"O": "Out-patient", "I": "In-patient", "B": "Both"}
AREA_DISPLAY = {"R": "Region", "D": "District", "W": "Municipality/Ward", "V": "Village"}

REQUEST_ERROR_PREFIX = "The request cannot be processed due to the following issues:\n"  # CONFIRMED

MAX_CODE, MAX_NAME, MAX_ADDRESS, MAX_CONTACT = 8, 100, 100, 50


class FhirError(Exception):
    """A request the server refuses. status 400 => FHIRRequestProcessException-like
    (errors joined as openIMIS does); 500 => server/DB fault."""

    def __init__(self, errors, status=400, severity="error", code="exception", prefix=True):
        if isinstance(errors, str):
            errors = [errors]
        super().__init__("; ".join(errors))
        self.errors = list(errors)
        self.status = status
        self.severity = severity
        self.code = code
        self.prefix = prefix

    def outcome(self):
        joined = ",\n".join(self.errors)
        text = (REQUEST_ERROR_PREFIX + joined) if self.prefix else joined
        return operation_outcome(self.severity, self.code, text, diagnostics=joined)


def operation_outcome(severity, code, text=None, diagnostics=None):
    issue = {"severity": severity, "code": code}
    if text:
        issue["details"] = {"text": text}        # where openIMIS puts the message
    if diagnostics or text:
        issue["diagnostics"] = diagnostics or text   # convenience for clients
    return {"resourceType": "OperationOutcome", "issue": [issue]}


# ----------------------------------------------------------------- helpers
def _identifier(value, type_code):
    return {"type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": type_code}]},
            "value": value}


def _cc(code, system=None, display=None, text=None):
    coding = {"code": code}
    if system:
        coding["system"] = system
    if display:
        coding["display"] = display
    cc = {"coding": [coding]}
    if text:
        cc["text"] = text
    return cc


def _reference(resource_type, uuid, display=None):
    ref = {"reference": "%s/%s" % (resource_type, uuid), "type": resource_type,
           "identifier": _identifier(uuid, "UUID")}
    if display:
        ref["display"] = display
    return ref


def identifier_by_type(identifiers, type_code):
    """openIMIS get_fhir_identifier_by_code: first identifier whose
    type.coding[0].code equals type_code."""
    if not isinstance(identifiers, list):
        return None
    for ident in identifiers:
        try:
            if ident["type"]["coding"][0]["code"] == type_code:
                return ident.get("value")
        except (KeyError, IndexError, TypeError):
            continue
    return None


def extension_code_by_suffix(extensions, suffix):
    """openIMIS __get_extension_by_url_suffix: first extension whose url ends
    with suffix -> valueCodeableConcept.coding[0].code."""
    if not isinstance(extensions, list):
        return None
    for ext in extensions:
        if isinstance(ext, dict) and str(ext.get("url", "")).endswith(suffix):
            try:
                return ext["valueCodeableConcept"]["coding"][0]["code"]
            except (KeyError, IndexError, TypeError):
                return None
    return None


def _too_long(label, value, limit):
    return "%s is too long: %d characters, at most %d allowed" % (label, len(value), limit)


# ------------------------------------------------------------ areas (read)
def area_to_fhir(area, parent, code_type):
    loc = {
        "resourceType": "Location",
        "id": area["uuid"],
        "identifier": [_identifier(area["uuid"], "UUID"), _identifier(area["code"], code_type)],
        "name": area["name"],
        "physicalType": _cc(area["type"], AREA_PHYSICAL_TYPE_SYSTEM, AREA_DISPLAY[area["type"]]),
        "status": "active" if area.get("validity_to") is None else "inactive",
        "mode": "instance",
    }
    if parent is not None:
        loc["partOf"] = _reference("Location", parent["uuid"], parent["code"])
    return loc


# ----------------------------------------------------- facility as Location
def hf_to_location(hf, district):
    code, text = LEVEL_TO_SITE_TYPE.get(hf["level"], ("", ""))
    loc = {
        "resourceType": "Location",
        "id": hf["uuid"],
        "identifier": [_identifier(hf["uuid"], "UUID"), _identifier(hf["code"], "FI")],
        "name": hf["name"],
        "status": ("active" if hf.get("validity_to") is None
                   and (hf.get("status") or "active") == "active" else "inactive"),
        "mode": "instance",
        "type": [_cc(code, SITE_TYPE_SYSTEM, text=text)],
        "physicalType": _cc("si", PHYSICAL_TYPE_SITE_SYSTEM, text="site"),
    }
    if district is not None:
        # as openIMIS: reference + identifier whose value is the district UUID, display = code
        loc["partOf"] = _reference("Location", district["uuid"], district["code"])
    return loc


def location_to_hf_fields(body, store):
    """Validate a Location(si) body like LocationSiteConverter.to_imis_obj.
    Returns dict(code, name, level, location_id-or-None)."""
    if not isinstance(body, dict) or body.get("resourceType") not in (None, "Location"):
        raise FhirError("Invalid resourceType, expected Location")
    errors = []
    code = identifier_by_type(body.get("identifier"), "FI")
    if code is None:
        errors.append("Missing location code")                      # CONFIRMED
    name = body.get("name")
    if name is None:
        errors.append("Missing location `name` attribute")          # CONFIRMED
    level = None
    try:
        level = SITE_TYPE_TO_LEVEL.get(body["type"][0]["coding"][0]["code"])
    except (KeyError, IndexError, TypeError):
        level = None
    if level is None:
        errors.append("Missing location level")                     # CONFIRMED
    location_id = None
    part_of = body.get("partOf")
    if part_of:
        # openIMIS reads partOf.identifier.value as the parent's UUID; an unknown
        # value is silently ignored (the parent stays unset).
        try:
            parent_uuid = part_of["identifier"]["value"]
        except (KeyError, TypeError):
            parent_uuid = None
        if parent_uuid:
            area = store.area_by_uuid(str(parent_uuid))
            if area is not None:
                location_id = area["id"]
    # status: active / inactive (openIMIS setting R4_fhir_location_status_codes);
    # absent keeps the facility's current status.
    status = body.get("status")
    if status is not None and status not in ("active", "inactive"):
        errors.append("Invalid location status %r, has to be one of active, inactive" % (status,))
    if code is not None and not isinstance(code, str):
        errors.append("HF code must be a string")
    if name is not None and not isinstance(name, str):
        errors.append("HF name must be a string")
    if not errors:
        if len(code) > MAX_CODE:
            errors.append(_too_long("HF code", code, MAX_CODE))
        if len(name) > MAX_NAME:
            errors.append(_too_long("HF name", name, MAX_NAME))
    if errors:
        raise FhirError(errors)
    return {"code": code, "name": name, "level": level, "location_id": location_id,
            "status": status}


# -------------------------------------------------- facility as Organization
def hf_to_organization(hf, district, region, code_type, address_ref_bug=False):
    exts = []
    if hf.get("legal_form"):
        exts.append({"url": EXT_LEGAL_FORM, "valueCodeableConcept": _cc(
            hf["legal_form"], LEGAL_FORM_SYSTEM,
            {"C": "Charity", "D": "District Organization", "G": "Government",
             "P": "Private organization"}.get(hf["legal_form"]))})
    if hf.get("level"):
        exts.append({"url": EXT_HF_LEVEL, "valueCodeableConcept": _cc(
            hf["level"], LEVEL_SYSTEM, LEVEL_DISPLAY.get(hf["level"]))})
    if hf.get("care_type") and hf["care_type"] != " ":
        exts.append({"url": EXT_CARE_TYPE, "valueCodeableConcept": _cc(
            hf["care_type"], CARE_TYPE_SYSTEM, CARE_TYPE_DISPLAY.get(hf["care_type"]))})
    telecom = []
    if hf.get("email"):
        telecom.append({"system": "email", "value": hf["email"]})
    if hf.get("phone"):
        telecom.append({"system": "phone", "value": hf["phone"]})
    if hf.get("fax"):
        telecom.append({"system": "fax", "value": hf["fax"]})
    address = {"type": "physical"}
    if hf.get("address"):
        address["line"] = [hf["address"]]
    if district is not None:
        address["district"] = district["name"]
        if region is not None:
            address["state"] = region["name"]
        if address_ref_bug:
            # real openIMIS builds the reference from the HF itself
            ref = _reference("Organization", hf["uuid"], hf["code"])
        else:
            ref = _reference("Location", district["uuid"], district["code"])
        address["extension"] = [{"url": EXT_ADDRESS_LOCATION, "valueReference": ref}]
    return {
        "resourceType": "Organization",
        "id": hf["uuid"],
        "extension": exts,
        "identifier": [_identifier(hf["uuid"], "UUID"), _identifier(hf["code"], code_type)],
        "type": [_cc("prov")],
        "name": hf["name"],
        "telecom": telecom,
        "address": [address],
        "contact": [],
    }


def organization_type(body):
    try:
        return str(body["type"][0]["coding"][0]["code"]).lower()
    except (KeyError, IndexError, TypeError):
        return None


def _telecom(body, system, errors, emulate_bug):
    telecom = body.get("telecom")
    if not telecom:
        return None
    if not isinstance(telecom, list):
        errors.append("telecom must be a list")
        return None
    read_system = "fax" if emulate_bug else system
    values = [t.get("value") for t in telecom
              if isinstance(t, dict) and t.get("system") == read_system]
    if len(values) > 1:
        # CONFIRMED (system rendered as its code)
        errors.append("More than one contact point of system %s assigned to health facility"
                      % system)
    return values[0] if values else None


def _reference_repr(ref):
    if isinstance(ref, dict):
        if ref.get("reference"):
            return "reference='%s'" % ref["reference"]
        try:
            return "identifier value='%s'" % ref["identifier"]["value"]
        except (KeyError, TypeError):
            pass
    return repr(ref)


def _resolve_reference(ref, store):
    """LocationConverter.get_imis_obj_by_fhir_reference: UUID from
    'Location/<uuid>' or from identifier.value; a Code/LC-typed identifier is
    looked up by code."""
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier") if isinstance(ref.get("identifier"), dict) else None
    if ident and ident.get("value"):
        try:
            tcode = ident["type"]["coding"][0]["code"]
        except (KeyError, IndexError, TypeError):
            tcode = None
        if tcode in ("Code", "LC"):
            return store.area_by_code(str(ident["value"]))
        area = store.area_by_uuid(str(ident["value"]))
        if area is not None:
            return area
    reference = ref.get("reference")
    if isinstance(reference, str) and reference:
        rid = reference.rstrip("/").split("/")[-1]
        return store.area_by_uuid(rid)
    return None


def organization_to_hf_fields(body, store, legal_forms, emulate_telecom_bug=False):
    """Validate an Organization(prov) body like
    HealthFacilityOrganisationConverter.to_imis_obj; returns all tblHF fields."""
    if not isinstance(body, dict) or body.get("resourceType") not in (None, "Organization"):
        raise FhirError("Invalid resourceType, expected Organization")
    errors = []
    code = identifier_by_type(body.get("identifier"), "Code")
    if code is None:
        errors.append("Missing HF Organization code")               # CONFIRMED
    name = body.get("name")
    if name is None:
        # openIMIS intends this check (its condition tests the code by mistake and
        # the DB then rejects the NULL name); the stand-in reports it directly.
        errors.append("Missing HF Name")                            # CONFIRMED text
    email = _telecom(body, "email", errors, emulate_telecom_bug)
    fax = _telecom(body, "fax", errors, emulate_telecom_bug)
    phone = _telecom(body, "phone", errors, emulate_telecom_bug)
    address_text = None
    addresses = body.get("address")
    if isinstance(addresses, list) and addresses and isinstance(addresses[0], dict):
        lines = addresses[0].get("line")
        if isinstance(lines, list) and lines:
            address_text = lines[0]
    extensions = body.get("extension")
    level = extension_code_by_suffix(extensions, "organization-hf-level")
    if level is None:
        errors.append("Extension with HF level not found")
    elif level not in LEVEL_DISPLAY:
        errors.append("Invalid HF level code, has to be one of D, C, H")
    care_type = extension_code_by_suffix(extensions, "organization-hf-care-type")
    if not care_type:
        errors.append("Extension with HF care type not found")      # CONFIRMED
    elif care_type not in CARE_TYPE_DISPLAY:
        errors.append("Invalid HF care type code, has to be one of I, O, B")
    legal_form = extension_code_by_suffix(extensions, "organization-legal-form")
    if legal_form not in legal_forms:
        # CONFIRMED: also raised when the extension is missing (value None)
        errors.append("Invalid HF legal form code, has to be one of dict_keys(%r)"
                      % sorted(legal_forms))
    if not legal_form:
        errors.append("Extension with HF legal form not found")     # CONFIRMED
    location = None
    if not isinstance(addresses, list) or not addresses or not isinstance(addresses[0], dict):
        errors.append("address not found in the HealthFacility Organisation")  # CONFIRMED
    else:
        addr = addresses[0]
        ext = None
        for e in addr.get("extension") or []:
            if isinstance(e, dict) and "address-location-reference" in str(e.get("url", "")):
                ext = e
                break
        if ext is not None:
            location = _resolve_reference(ext.get("valueReference"), store)
            if location is None:
                errors.append("Invalid location reference, %s doesn't match any location."
                              % _reference_repr(ext.get("valueReference")))  # CONFIRMED
        else:
            district, state = addr.get("district"), addr.get("state")
            matches = store.areas_by_district_and_state(district, state)
            if len(matches) == 1:
                location = matches[0]
            elif not matches:
                errors.append("No matching location for district %s, state %s."
                              % (district, state))                  # CONFIRMED
            else:
                errors.append("More than one matching location district %s, state %s:\n%s."
                              % (district, state, [m["code"] for m in matches]))  # CONFIRMED
    # Column sizes of tblHF (the real DB would refuse these; the stand-in says why).
    for label, value, limit in (("HF code", code, MAX_CODE), ("HF name", name, MAX_NAME),
                                ("HF address", address_text, MAX_ADDRESS),
                                ("HF phone", phone, MAX_CONTACT), ("HF fax", fax, MAX_CONTACT),
                                ("HF email", email, MAX_CONTACT)):
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append("%s must be a string" % label)
        elif len(value) > limit:
            errors.append(_too_long(label, value, limit))
    if errors:
        raise FhirError(errors)
    return {"code": code, "name": name, "level": level, "care_type": care_type,
            "legal_form": legal_form, "location_id": location["id"], "address": address_text,
            "phone": phone, "fax": fax, "email": email, "offline": False}
