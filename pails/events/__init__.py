"""Bucket notifications' destinations (docs/notifications.md): the targets an
operator configures and the clients that deliver to them.  Used by the S3
API (the test event of PutBucketNotificationConfiguration), the delivery job
(pails.jobs.notify) and the CLI (pails.cli_targets)."""
