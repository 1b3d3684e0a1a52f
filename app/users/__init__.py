"""Users, roles and claims (docs/rules/users.md)."""
