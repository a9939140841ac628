"""The moments in a physician's work at which a rule may speak: the CDS Hooks a service answers.

Domain vocabulary, not protocol: rules say which of these they run at (``HOOKS``), and the protocol
layer maps each to its service (cds_service/protocol/services.py).
"""
from __future__ import annotations

PATIENT_VIEW = "patient-view"
ORDER_SELECT = "order-select"
ORDER_SIGN = "order-sign"
MEDICATION_PRESCRIBE = "medication-prescribe"
ORDER_HOOKS = frozenset({ORDER_SELECT, ORDER_SIGN, MEDICATION_PRESCRIBE})
ALL_HOOKS = ORDER_HOOKS | {PATIENT_VIEW}
