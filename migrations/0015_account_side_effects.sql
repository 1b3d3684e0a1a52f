-- Account states (docs/rules/users.md): the bids of a deactivated or deleted account are withdrawn, not deleted, so
-- the bid history stays auditable; a withdrawn bid no longer counts (leader, counters, bid history shown).
-- A new nullable column: no stored row breaks a rule, nothing to report.
-- depends: 0014_idempotency_scrub

ALTER TABLE bids ADD COLUMN withdrawn_at timestamptz;
