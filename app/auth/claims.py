"""The claims the code checks by name (guards of the users, clinic, cashback and auctions areas).

Renaming one would silently switch its feature off for everyone, and deactivating users:manage would leave nobody
able to undo it: the users area refuses both for the claims in BUILT_IN_CLAIMS
(docs/rules/users.md, "Roles and claims")."""

MANAGE_USERS = "users:manage"
MANAGE_CLINICS = "clinics:manage"
MANAGE_PURCHASES = "purchases:manage"
SELL_AUCTIONS = "auctions:sell"
BUILT_IN_CLAIMS = frozenset({MANAGE_USERS, MANAGE_CLINICS, MANAGE_PURCHASES, SELL_AUCTIONS})
