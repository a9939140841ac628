"""Cards: findings → CDS Hooks cards in one language, with their words, formats and suggestions.

Door rule: imports domain, rules, fhir_mappings (to write a suggestion's FHIR) and runtime — never
protocol or web; no IO.
"""

# A problem's English text (str(problem): logs, extension.trappa facts) is the cards' wording.
from cds_service.cards import problems as _problems  # noqa: E402,F401
