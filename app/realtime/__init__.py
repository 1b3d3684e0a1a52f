"""The real-time hub shared by every live feed (realtime.md): events written in the transaction they describe,
NOTIFY on commit, one LISTEN connection per process, per-topic gap-free seq, replay, bounded queues."""
