"""The service's web side beside the CDS Hooks API: pages a clinician opens from a card."""
