"""Reseller cashback (docs/rules/cashback.md)."""
