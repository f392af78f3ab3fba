"""S3 operations, one module per area.  Handlers take an ``S3Request`` and
return a ``Response``; they know nothing of ASGI or sockets."""
