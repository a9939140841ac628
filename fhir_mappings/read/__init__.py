"""FHIR R4 JSON → domain values: orders, medications, dosages (structured and free text), the record's
plans, flags, diagnoses and referrals, and the facts of one hook call.

Door rule: imports domain, ``fhir_mappings.codes`` and runtime only; reads JSON values, does no IO.
"""
