"""The HTTP edge: the ASGI application, routing and body streaming."""
