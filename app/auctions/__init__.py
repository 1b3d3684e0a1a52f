"""Real-time auctions (auctions.md)."""
