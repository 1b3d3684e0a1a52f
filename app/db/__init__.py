"""Database plumbing: the embedded server, the connection pool, named SQL statements and migrations."""
