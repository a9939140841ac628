"""Test helpers that are not tests themselves (e.g. the loopback FHIR test server)."""
