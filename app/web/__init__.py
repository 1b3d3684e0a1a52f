"""HTTP plumbing shared by every area: errors, strict bodies, pagination, money, CSRF, rate limits, ..."""
