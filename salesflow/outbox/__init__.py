"""The outbox: the queue that emails and `http` steps' requests share — claims under a lease,
couriers that send a claimed slice through a transport, retries with backoff, and what
people do to one item by hand (`outbox retry|cancel`). It is the one place that knows both
transports (mail's and webhooks'); neither knows the other."""
