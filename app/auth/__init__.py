"""Login: cookie sessions with CSRF, bearer tokens, password reset; the principal and claim guards."""
