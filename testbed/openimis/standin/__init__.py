"""Stand-in (test double) for openIMIS's FHIR R4 API, Python stdlib only."""
