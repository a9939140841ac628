"""CDS Hooks: request validation and schemas, the services and discovery, gathering data (prefetch,
FHIR fallback), and one evaluation from request to response.

Door rule: imports domain, rules, cards, fhir_mappings, runtime, and from web only the settings value
(``web.config.Settings``); nothing of Flask, views or storage.
"""
