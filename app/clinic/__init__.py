"""Clinic patient queue (clinic.md)."""
