"""Domain proposals → FHIR R4 resources: taper CarePlan and MedicationRequest, prescribing-restriction
Flag, referral ServiceRequest, amendments of a draft.

Door rule: imports domain and ``fhir_mappings.codes`` only; builds JSON values, does no IO.
"""
