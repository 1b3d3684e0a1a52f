"""E-mail: an outbox table written in the caller's transaction, and a sender in every server process."""
