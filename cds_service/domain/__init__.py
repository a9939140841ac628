"""The domain: what the patient takes, for how long, at what MEDD, and how a taper steps down.

Door rule: imports nothing of Trappa outside ``cds_service.domain`` — no FHIR JSON, no HTTP, no
database, no environment. Its clinical tables (MEDD factors, depot strengths: ``data/``) are read once
when first used; everything else arrives as plain values.
"""
