"""The SQLite metadata schema, its version, and the migration of data
directories made by earlier versions (run on every open; a no-op once done).

The version is SQLite's ``PRAGMA user_version`` (in the database header, so
it changes in the same transaction as the tables).  0: a data directory made
before versions existed (small bodies in an ``inline`` column, or today's
tables unmarked); 1: the tables without usage counters; 2: ``bucket_usage``
(kept by triggers) and ``multipart_parts.bucket_id``; 3: accounts and IAM.  Each
version is reached from the one before by ``MIGRATIONS``.  Migrations run in one transaction that
ends by setting the new version: a crash during it leaves the old schema and
version, never half of each.  A database marked newer than ``SCHEMA_VERSION``
is refused (a downgrade could misread it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pails.storage.meta import StoreUnavailable
from pails.storage.records import new_account_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    access_key   TEXT PRIMARY KEY,
    secret_key   TEXT NOT NULL,
    canonical_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL UNIQUE,
    email        TEXT UNIQUE,
    created      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    owner_id   TEXT NOT NULL,
    created    REAL NOT NULL,
    location   TEXT NOT NULL,
    acl        TEXT NOT NULL,
    versioning TEXT,
    props      TEXT NOT NULL DEFAULT '{}'
);
-- The current version of every key.  Noncurrent versions (versioning) live in
-- object_versions, so listing current keys is one clustered range scan.
-- Small bodies live in inline_data, not in these rows: objects and
-- object_versions are clustered by key (WITHOUT ROWID), and SQLite reads the
-- whole of a large row, overflow pages included, as a scan steps over it
-- (a 64 KiB body made every listed row cost 25 µs instead of under 1).
CREATE TABLE IF NOT EXISTS objects (
    bucket_id     INTEGER NOT NULL,
    key           TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    last_modified REAL NOT NULL,
    owner_id      TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    headers       TEXT NOT NULL,
    acl           TEXT NOT NULL,
    blob_id       TEXT,
    manifest      TEXT,
    checksums     TEXT,
    inline_id     INTEGER,
    PRIMARY KEY (bucket_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS object_versions (
    bucket_id     INTEGER NOT NULL,
    key           TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    version_id    TEXT NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    last_modified REAL NOT NULL,
    owner_id      TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    headers       TEXT NOT NULL,
    acl           TEXT NOT NULL,
    blob_id       TEXT,
    manifest      TEXT,
    checksums     TEXT,
    inline_id     INTEGER,
    PRIMARY KEY (bucket_id, key, seq)
) WITHOUT ROWID;
-- The body of a small object (see objects.inline_id); one row per version.
CREATE TABLE IF NOT EXISTS inline_data (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS multipart_uploads (
    upload_id     TEXT PRIMARY KEY,
    bucket_id     INTEGER NOT NULL,
    key           TEXT NOT NULL,
    initiated     REAL NOT NULL,
    owner_id      TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    headers       TEXT NOT NULL,
    acl           TEXT NOT NULL,
    props         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS multipart_uploads_by_key ON multipart_uploads (bucket_id, key, initiated);
CREATE TABLE IF NOT EXISTS multipart_parts (
    upload_id     TEXT NOT NULL,
    bucket_id     INTEGER NOT NULL,  -- the upload's: the usage triggers need it when the upload row is gone
    part_number   INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    last_modified REAL NOT NULL,
    blob_id       TEXT NOT NULL,
    checksums     TEXT,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
-- Data files that no metadata references any more; unlinked after commit.
CREATE TABLE IF NOT EXISTS blob_garbage (blob_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_blob ON objects (blob_id) WHERE blob_id IS NOT NULL;
-- Versioning: a version by its id (GET ?versionId=, version-id-marker), and
-- data files of noncurrent versions (recovery).
CREATE UNIQUE INDEX IF NOT EXISTS object_versions_by_id ON object_versions (bucket_id, key, version_id);
CREATE INDEX IF NOT EXISTS object_versions_by_blob ON object_versions (blob_id) WHERE blob_id IS NOT NULL;
-- What each bucket stores (pails.storage.records.BucketUsage), kept exact by
-- the triggers below in the transaction of every write, and the bucket's
-- quota (a copy of its props' "quota", for the check at commit).
CREATE TABLE IF NOT EXISTS bucket_usage (
    bucket_id          INTEGER PRIMARY KEY,
    objects            INTEGER NOT NULL DEFAULT 0,
    bytes              INTEGER NOT NULL DEFAULT 0,
    noncurrent_objects INTEGER NOT NULL DEFAULT 0,
    noncurrent_bytes   INTEGER NOT NULL DEFAULT 0,
    delete_markers     INTEGER NOT NULL DEFAULT 0,
    uploads            INTEGER NOT NULL DEFAULT 0,
    parts              INTEGER NOT NULL DEFAULT 0,
    part_bytes         INTEGER NOT NULL DEFAULT 0,
    max_bytes          INTEGER,
    max_objects        INTEGER
);
"""

# Triggers keeping bucket_usage (created after multipart_parts has its
# bucket_id).  Writes replace rows with UPSERTs, never INSERT OR REPLACE,
# whose implicit delete fires no trigger.
USAGE_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS usage_bucket_add AFTER INSERT ON buckets BEGIN
    INSERT OR IGNORE INTO bucket_usage (bucket_id) VALUES (NEW.id);
END;
CREATE TRIGGER IF NOT EXISTS usage_bucket_drop AFTER DELETE ON buckets BEGIN
    DELETE FROM bucket_usage WHERE bucket_id = OLD.id;
END;
""" + "".join(f"""
CREATE TRIGGER IF NOT EXISTS usage_{table}_add AFTER INSERT ON {table} BEGIN
    UPDATE bucket_usage SET {n} = {n} + 1 - NEW.delete_marker, {b} = {b} + NEW.size,
        delete_markers = delete_markers + NEW.delete_marker WHERE bucket_id = NEW.bucket_id;
END;
CREATE TRIGGER IF NOT EXISTS usage_{table}_drop AFTER DELETE ON {table} BEGIN
    UPDATE bucket_usage SET {n} = {n} - 1 + OLD.delete_marker, {b} = {b} - OLD.size,
        delete_markers = delete_markers - OLD.delete_marker WHERE bucket_id = OLD.bucket_id;
END;
CREATE TRIGGER IF NOT EXISTS usage_{table}_change AFTER UPDATE OF size, delete_marker ON {table}
WHEN OLD.size <> NEW.size OR OLD.delete_marker <> NEW.delete_marker BEGIN
    UPDATE bucket_usage SET {n} = {n} + OLD.delete_marker - NEW.delete_marker, {b} = {b} + NEW.size - OLD.size,
        delete_markers = delete_markers + NEW.delete_marker - OLD.delete_marker WHERE bucket_id = NEW.bucket_id;
END;""" for table, n, b in (("objects", "objects", "bytes"),
                            ("object_versions", "noncurrent_objects", "noncurrent_bytes"))) + """
CREATE TRIGGER IF NOT EXISTS usage_upload_add AFTER INSERT ON multipart_uploads BEGIN
    UPDATE bucket_usage SET uploads = uploads + 1 WHERE bucket_id = NEW.bucket_id;
END;
CREATE TRIGGER IF NOT EXISTS usage_upload_drop AFTER DELETE ON multipart_uploads BEGIN
    UPDATE bucket_usage SET uploads = uploads - 1 WHERE bucket_id = OLD.bucket_id;
END;
CREATE TRIGGER IF NOT EXISTS usage_part_add AFTER INSERT ON multipart_parts BEGIN
    UPDATE bucket_usage SET parts = parts + 1, part_bytes = part_bytes + NEW.size WHERE bucket_id = NEW.bucket_id;
END;
CREATE TRIGGER IF NOT EXISTS usage_part_drop AFTER DELETE ON multipart_parts BEGIN
    UPDATE bucket_usage SET parts = parts - 1, part_bytes = part_bytes - OLD.size WHERE bucket_id = OLD.bucket_id;
END;
CREATE TRIGGER IF NOT EXISTS usage_part_change AFTER UPDATE OF size ON multipart_parts
WHEN OLD.size <> NEW.size BEGIN
    UPDATE bucket_usage SET part_bytes = part_bytes + NEW.size - OLD.size WHERE bucket_id = NEW.bucket_id;
END;
"""

# The counters of the data already there (the migration to version 2).
_COUNT_USAGE = """
INSERT OR REPLACE INTO bucket_usage (bucket_id, objects, bytes, noncurrent_objects, noncurrent_bytes,
                                     delete_markers, uploads, parts, part_bytes, max_bytes, max_objects)
SELECT b.id,
    (SELECT count(*) FROM objects WHERE bucket_id = b.id AND delete_marker = 0),
    (SELECT coalesce(sum(size), 0) FROM objects WHERE bucket_id = b.id),
    (SELECT count(*) FROM object_versions WHERE bucket_id = b.id AND delete_marker = 0),
    (SELECT coalesce(sum(size), 0) FROM object_versions WHERE bucket_id = b.id),
    (SELECT count(*) FROM objects WHERE bucket_id = b.id AND delete_marker = 1)
        + (SELECT count(*) FROM object_versions WHERE bucket_id = b.id AND delete_marker = 1),
    (SELECT count(*) FROM multipart_uploads WHERE bucket_id = b.id),
    (SELECT count(*) FROM multipart_parts WHERE bucket_id = b.id),
    (SELECT coalesce(sum(size), 0) FROM multipart_parts WHERE bucket_id = b.id),
    json_extract(b.props, '$.quota.max_bytes'), json_extract(b.props, '$.quota.max_objects')
FROM buckets b
"""


def _statements(script: str) -> list[str]:
    """SCHEMA as single statements: ``executescript`` would commit the
    migration's transaction first."""
    out, pending = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    return out


def _refuse_newer(version: int, path: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(f"the metadata database {path} has schema version {version}, newer than this Pails "
                               f"knows ({SCHEMA_VERSION}): it was written by a later Pails; run that version "
                               "(downgrades are refused)")


def _v3_iam(c: sqlite3.Connection) -> None:
    """Accounts and IAM (docs/iam.md): today's users become accounts, each
    with an account id; IAM users, groups, roles, managed policies and their
    access keys get tables of their own."""
    columns = {r[1] for r in c.execute("PRAGMA table_info(users)")}
    if "account_id" not in columns:
        c.execute("ALTER TABLE users ADD COLUMN account_id TEXT")
    if "operator" not in columns:
        c.execute("ALTER TABLE users ADD COLUMN operator INTEGER NOT NULL DEFAULT 0")
    taken = {r[0] for r in c.execute("SELECT account_id FROM users WHERE account_id IS NOT NULL")}
    for (key,) in c.execute("SELECT access_key FROM users WHERE account_id IS NULL").fetchall():
        account_id = new_account_id()
        while account_id in taken:
            account_id = new_account_id()
        taken.add(account_id)
        c.execute("UPDATE users SET account_id=? WHERE access_key=?", (account_id, key))
    c.execute("UPDATE users SET operator=1 WHERE display_name='root'")
    for statement in _statements(IAM_SCHEMA):
        c.execute(statement)


IAM_SCHEMA = """
CREATE UNIQUE INDEX IF NOT EXISTS users_by_account ON users (account_id);
-- IAM users, groups, roles, managed policies (and ("root", "") the policies the
-- operator set on an account root), by account, kind and lower-cased name
-- (IAM names are unique regardless of case); doc: JSON of what the kind has.
CREATE TABLE IF NOT EXISTS iam_entities (
    account_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    lname      TEXT NOT NULL,
    name       TEXT NOT NULL,
    id         TEXT NOT NULL,
    path       TEXT NOT NULL,
    created    REAL NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (account_id, kind, lname)
) WITHOUT ROWID;
-- Access keys of IAM users; the secret sealed with the master key.
CREATE TABLE IF NOT EXISTS iam_keys (
    access_key TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    secret     TEXT NOT NULL,
    status     TEXT NOT NULL,
    created    REAL NOT NULL,
    expires    REAL,
    last_used  REAL
);
CREATE INDEX IF NOT EXISTS iam_keys_by_user ON iam_keys (account_id, user_name);
"""


def _v2_usage(c: sqlite3.Connection) -> None:
    """Bucket usage (docs/quotas.md): ``bucket_usage`` (created by SCHEMA's
    idempotent statements), parts with their bucket, the triggers, and the
    counters of the data already there."""
    for statement in _statements(SCHEMA):
        c.execute(statement)
    _add_part_buckets(c)
    for statement in _statements(USAGE_TRIGGERS):
        c.execute(statement)
    c.execute(_COUNT_USAGE)


# version -> the migration that reaches it from version - 1 (version 1: SCHEMA)
def _v4_events(c: sqlite3.Connection) -> None:
    """Bucket notifications (docs/notifications.md): the operator's targets and
    the outbox of events not yet acknowledged by their target.  Idempotent, as
    every step (a layout of version 0 runs them all on a schema that has them)."""
    for statement in _statements(EVENTS_SCHEMA):
        c.execute(statement)


EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_targets (
    name    TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    config  TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    target  TEXT NOT NULL,
    created REAL NOT NULL,
    record  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_outbox_by_target ON event_outbox (target, id);
CREATE TABLE IF NOT EXISTS event_counters (
    target    TEXT PRIMARY KEY,
    delivered INTEGER NOT NULL DEFAULT 0,
    dropped   INTEGER NOT NULL DEFAULT 0,
    failures  INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _v2_usage, 3: _v3_iam, 4: _v4_events}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(c: sqlite3.Connection, path: str = "the SQLite database") -> None:
    """Create the schema or bring it to SCHEMA_VERSION, atomically; refuse a newer one."""
    version = int(c.execute("PRAGMA user_version").fetchone()[0])
    _refuse_newer(version, path)
    if version == SCHEMA_VERSION:
        return
    c.execute("BEGIN IMMEDIATE")
    try:
        version = int(c.execute("PRAGMA user_version").fetchone()[0])  # another process may have migrated it
        _refuse_newer(version, path)
        if version < 1:
            for statement in _statements(SCHEMA):
                c.execute(statement)
            _move_inline_bodies(c)
        for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](c)
        if version < SCHEMA_VERSION:
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise


def _move_inline_bodies(c: sqlite3.Connection) -> None:
    """Data directories made before inline_data kept small bodies in their
    version rows: move them out (inside the migration's transaction)."""
    for table, key in (("objects", "bucket_id, key"), ("object_versions", "bucket_id, key, seq")):
        columns = {r[1] for r in c.execute(f"PRAGMA table_info({table})")}
        if "inline" not in columns:
            continue
        where = " AND ".join(f"{k.strip()}=?" for k in key.split(","))
        if "inline_id" not in columns:
            c.execute(f"ALTER TABLE {table} ADD COLUMN inline_id INTEGER")
        while rows := c.execute(f"SELECT {key}, inline FROM {table} WHERE inline IS NOT NULL LIMIT 500").fetchall():
            for *pk, data in rows:
                new_id = c.execute("INSERT INTO inline_data (data) VALUES (?)", (data,)).lastrowid
                c.execute(f"UPDATE {table} SET inline_id=?, inline=NULL WHERE {where}", (new_id, *pk))
        c.execute(f"ALTER TABLE {table} DROP COLUMN inline")


def _add_part_buckets(c: sqlite3.Connection) -> None:
    """Version 2 gives each part its upload's bucket (the usage triggers need it)."""
    if "bucket_id" in {r[1] for r in c.execute("PRAGMA table_info(multipart_parts)")}:
        return
    c.execute("ALTER TABLE multipart_parts ADD COLUMN bucket_id INTEGER NOT NULL DEFAULT 0")
    c.execute("UPDATE multipart_parts SET bucket_id = coalesce((SELECT bucket_id FROM multipart_uploads u "
              "WHERE u.upload_id = multipart_parts.upload_id), 0)")
