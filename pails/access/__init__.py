"""Who is asking: request authentication (SigV2/SigV4, presigned URLs, aws-chunked) and access control."""
