"""The web console (docs/console.md): static pages served under /console/ on
the admin port, a login that turns an access key into temporary credentials
held in a sealed cookie, and a same-origin proxy that signs the browser's S3
requests with them.  The console acts only through the S3 API (and reads of
the caller's own buckets and the server's metrics), as the logged-in
principal: it can do nothing that principal's policies refuse."""
