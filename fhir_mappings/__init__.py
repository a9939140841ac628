"""FHIR R4 JSON ⇄ Trappa's small domain model (see ``fhir_mappings.model``)."""
