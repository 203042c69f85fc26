"""Email: rendering messages into the outbox, assembling MIME at delivery, and the SMTP and
.eml transports (the delivery passes are `outbox/`)."""
