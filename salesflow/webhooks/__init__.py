"""Outgoing requests: what an `http` step queues in the outbox, and how it leaves."""
