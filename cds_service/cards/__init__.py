"""Cards: findings → CDS Hooks cards in one language, with their words, formats and suggestions.

Door rule: imports domain, rules, fhir_mappings (to write a suggestion's FHIR) and runtime — never
protocol or web; no IO.
"""
