"""Email: rendering messages into the outbox, assembling MIME, and delivering them."""
