"""Trappa CDS Hooks service."""
