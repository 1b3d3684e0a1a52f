"""One Litestar service: users and login, live auctions, a clinic patient queue and reseller cashback."""
