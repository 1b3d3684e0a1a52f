"""Real-time auctions (docs/rules/auctions.md)."""
