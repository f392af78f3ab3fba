"""Static website hosting: the bucket website configuration (Put/Get/Delete
BucketWebsite) and the website endpoint that serves a bucket's objects as
pages (anonymous GET/HEAD, index documents, HTML error pages, redirects)."""
