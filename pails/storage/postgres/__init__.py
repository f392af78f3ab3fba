"""The PostgreSQL metadata store: many stateless gateways share one database
(and one data directory).  Importing it imports psycopg, so only
``engine.open_meta`` does, and only when a database URL is configured.

- ``store``: ``PgMeta``, buckets and objects, the bucket cache and NOTIFY
- ``conn``: reader pool, group committer, NOTIFY listener
- ``fast``: the lean libpq connection readers and committer use
  (prepared statements, binary results)
- ``pipe``: the pipelined connection of point reads
- ``batch``: the set-based part of a group commit
- ``schema``: versioned schema and its checks
- ``versions``: version moves under row locks
- ``uploads``: multipart uploads and data-file bookkeeping (intents)
- ``listing``: one statement per ListObjects page
- ``rename``: RenameObject, both keys locked in key order
- ``iam``: accounts, IAM entities and keys
- ``events``: bucket notification targets and outbox
- ``jobs``: what background jobs need (every bucket, advisory-lock leases)
"""

from pails.storage.postgres.store import PgMeta

__all__ = ["PgMeta"]
