"""Users, roles and claims (users-auth.md)."""
