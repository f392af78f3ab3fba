"""Wire-protocol helpers shared by the S3 layers (checksums, encodings)."""
