"""The real-time hub of every live feed (docs/rules/realtime.md): events written in the transaction they describe,
NOTIFY on commit, one LISTEN connection per process, per-topic gap-free seq, replay, bounded queues."""
