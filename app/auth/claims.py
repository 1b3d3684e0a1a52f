"""The claims the code checks by name (docs/rules/users.md, "Roles and claims"): one owner for their spelling."""

from __future__ import annotations

MANAGE_USERS = "users:manage"
MANAGE_CLINICS = "clinics:manage"
MANAGE_PURCHASES = "purchases:manage"
SELL_AUCTIONS = "auctions:sell"

# Renaming one of these would silently switch its feature off for everyone, and deactivating users:manage would
# leave nobody able to undo it: they keep their names.
BUILT_IN_CLAIMS = frozenset({MANAGE_USERS, MANAGE_CLINICS, MANAGE_PURCHASES, SELL_AUCTIONS})
