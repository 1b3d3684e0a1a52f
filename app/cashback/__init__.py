"""Reseller cashback (cashback.md)."""
