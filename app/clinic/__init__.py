"""Clinic patient queue (docs/rules/clinic.md)."""
