"""Trappa CDS Hooks service. The layers, innermost first: ``domain`` (the clinical model and taper
engine), ``rules`` (one module per card topic: decisions), ``cards`` (findings → cards), ``protocol``
(CDS Hooks), ``web`` (the Flask app, storage, server), beside ``runtime`` (what makes a call fast) and the
FHIR mapping in the top-level package ``fhir_mappings``. Each subpackage's docstring says what it may import.
"""
