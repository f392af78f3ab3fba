"""The SQLite metadata store (the default): one WAL database in the data
directory, shared by the worker processes of one server.

- ``store``: ``SqliteMeta``, connections, buckets and objects
- ``committer``: the group committer thread, quota checks in the commit
- ``schema``: tables, schema version (``PRAGMA user_version``), migrations
- ``versions``: how versions move inside a transaction
- ``uploads``: multipart uploads and data-file bookkeeping
- ``listing``: one SQL statement per ListObjects page
- ``rename``: RenameObject
- ``iam``: accounts, IAM entities and keys
- ``events``: bucket notification targets and outbox
- ``jobs``: what background jobs need (every bucket, leases)
- ``backup``: ``pails backup-meta``
"""

from pails.storage.sqlite.store import SqliteMeta

__all__ = ["SqliteMeta"]
