"""The PostgreSQL metadata schema, versioned.

``pails_schema`` holds one row: the schema version this database is at.  A
gateway creates the schema on an empty database, migrates an older one inside
one transaction (PostgreSQL DDL is transactional, so a crash leaves the old or
the new schema), and refuses to start against a newer one.

Keys are ``text COLLATE "C"``: PostgreSQL then compares them byte by byte,
which for UTF-8 is the order S3 lists keys in (the database's default
collation, e.g. ``C.UTF-8`` or ``en_US.UTF-8``, is not).
"""

from __future__ import annotations

from typing import Any

import psycopg

from pails.storage.meta import StoreUnavailable

# Statements of version 1, in order.  Small bodies stay in the version rows
# (``inline``): with STORAGE EXTERNAL, TOAST keeps them out of line, so a
# listing that steps over a row does not read its body (SQLite needs a table
# of its own for that).
SCHEMA_V1 = (
    """CREATE TABLE users (
        access_key   text PRIMARY KEY,
        secret_key   text NOT NULL,
        canonical_id text NOT NULL UNIQUE,
        display_name text NOT NULL UNIQUE,
        email        text,
        created      double precision NOT NULL
    )""",
    "CREATE UNIQUE INDEX users_by_email ON users (lower(email))",
    """CREATE TABLE buckets (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name       text COLLATE "C" NOT NULL UNIQUE,
        owner_id   text NOT NULL,
        created    double precision NOT NULL,
        location   text NOT NULL,
        acl        text NOT NULL,
        versioning text,
        props      text NOT NULL DEFAULT '{}',
        epoch      bigint NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX buckets_by_owner ON buckets (owner_id, name)",
    """CREATE TABLE objects (
        bucket_id     bigint NOT NULL REFERENCES buckets (id),
        key           text COLLATE "C" NOT NULL,
        version_id    text NOT NULL,
        size          bigint NOT NULL,
        etag          text NOT NULL,
        last_modified double precision NOT NULL,
        owner_id      text NOT NULL,
        storage_class text NOT NULL,
        delete_marker smallint NOT NULL DEFAULT 0,
        headers       text NOT NULL,
        acl           text NOT NULL,
        blob_id       text,
        manifest      text,
        checksums     text,
        inline        bytea,
        PRIMARY KEY (bucket_id, key)
    ) WITH (fillfactor = 85)""",
    "ALTER TABLE objects ALTER COLUMN inline SET STORAGE EXTERNAL",
    """CREATE TABLE object_versions (
        bucket_id     bigint NOT NULL REFERENCES buckets (id),
        key           text COLLATE "C" NOT NULL,
        seq           bigint NOT NULL,
        version_id    text NOT NULL,
        size          bigint NOT NULL,
        etag          text NOT NULL,
        last_modified double precision NOT NULL,
        owner_id      text NOT NULL,
        storage_class text NOT NULL,
        delete_marker smallint NOT NULL DEFAULT 0,
        headers       text NOT NULL,
        acl           text NOT NULL,
        blob_id       text,
        manifest      text,
        checksums     text,
        inline        bytea,
        PRIMARY KEY (bucket_id, key, seq)
    )""",
    "ALTER TABLE object_versions ALTER COLUMN inline SET STORAGE EXTERNAL",
    "CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket_id, key, version_id)",
    """CREATE TABLE multipart_uploads (
        upload_id     text PRIMARY KEY,
        bucket_id     bigint NOT NULL REFERENCES buckets (id),
        key           text COLLATE "C" NOT NULL,
        initiated     double precision NOT NULL,
        owner_id      text NOT NULL,
        storage_class text NOT NULL,
        headers       text NOT NULL,
        acl           text NOT NULL,
        props         text NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX multipart_uploads_by_key ON multipart_uploads (bucket_id, key, upload_id)",
    """CREATE TABLE multipart_parts (
        upload_id     text NOT NULL REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
        part_number   integer NOT NULL,
        size          bigint NOT NULL,
        etag          text NOT NULL,
        last_modified double precision NOT NULL,
        blob_id       text NOT NULL,
        checksums     text,
        PRIMARY KEY (upload_id, part_number)
    )""",
    # Data files no metadata references any more: unlinked after the commit
    # that listed them, by whichever gateway claims them first.
    "CREATE TABLE blob_garbage (blob_id text PRIMARY KEY)",
    # Data files being written: a commit that references one must delete its
    # intent; a cleaner deletes stale intents (committed) before unlinking, so
    # a stalled gateway's late commit fails instead of referencing a removed file.
    """CREATE TABLE blob_intents (
        blob_id text PRIMARY KEY,
        created double precision NOT NULL
    )""",
    "CREATE INDEX blob_intents_by_age ON blob_intents (created)",
)

# Placeholder for the quota branch's migration 2 (dropped at merge).
_V2_PLACEHOLDER: tuple[str, ...] = ()

# Version 3: accounts and IAM (docs/iam.md).  Today's users become accounts
# with a 12-digit account id (random, never starting with 0); IAM users,
# groups, roles, managed policies (and ("root", "") the policies the operator
# set on an account root) by account, kind and lower-cased name; access keys
# of IAM users with their secrets sealed by the master key.
SCHEMA_V3 = (
    "ALTER TABLE users ADD COLUMN account_id text",
    "ALTER TABLE users ADD COLUMN operator boolean NOT NULL DEFAULT false",
    """DO $$ DECLARE r record; candidate text; BEGIN
        FOR r IN SELECT access_key FROM users LOOP
            LOOP
                candidate := (100000000000 + floor(random() * 900000000000))::bigint::text;
                EXIT WHEN NOT EXISTS (SELECT 1 FROM users WHERE account_id = candidate);
            END LOOP;
            UPDATE users SET account_id = candidate WHERE access_key = r.access_key;
        END LOOP;
    END $$""",
    "UPDATE users SET operator = true WHERE display_name = 'root'",
    "ALTER TABLE users ALTER COLUMN account_id SET NOT NULL",
    "CREATE UNIQUE INDEX users_by_account ON users (account_id)",
    """CREATE TABLE iam_entities (
        account_id text NOT NULL,
        kind       text NOT NULL,
        lname      text NOT NULL,
        name       text NOT NULL,
        id         text NOT NULL,
        path       text NOT NULL,
        created    double precision NOT NULL,
        doc        text NOT NULL,
        PRIMARY KEY (account_id, kind, lname)
    )""",
    """CREATE TABLE iam_keys (
        access_key text PRIMARY KEY,
        account_id text NOT NULL,
        user_name  text NOT NULL,
        secret     text NOT NULL,
        status     text NOT NULL,
        created    double precision NOT NULL,
        expires    double precision,
        last_used  double precision
    )""",
    "CREATE INDEX iam_keys_by_user ON iam_keys (account_id, user_name)",
)

# version -> statements that reach it from version - 1
MIGRATIONS: dict[int, tuple[str, ...]] = {1: SCHEMA_V1, 2: _V2_PLACEHOLDER, 3: SCHEMA_V3}
SCHEMA_VERSION = max(MIGRATIONS)

_SCHEMA_LOCK = 0x7061696C73  # "pails": serializes schema set-up between gateways starting at once
# Key columns whose collation is not byte order.
_MIS_COLLATED = (
    "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_collation l ON l.oid = a.attcollation WHERE a.attname IN ('key', 'name') "
    "AND c.relname IN ('objects', 'object_versions', 'multipart_uploads', 'buckets') "
    "AND c.relnamespace = current_schema()::regnamespace AND l.collname NOT IN ('C', 'POSIX')")


async def _one(conn: psycopg.AsyncConnection[Any], sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    return await (await conn.execute(sql, args)).fetchone()


async def prepare_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """Inside a transaction: create or migrate the schema, or raise
    StoreUnavailable for a database this version of Pails cannot serve."""
    encoding = (await _one(conn, "SHOW server_encoding") or ("",))[0]
    if encoding.upper() != "UTF8":
        raise StoreUnavailable(f"the metadata database must use UTF8 encoding (it uses {encoding}): "
                               "CREATE DATABASE ... ENCODING 'UTF8'")
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
    await conn.execute("CREATE TABLE IF NOT EXISTS pails_schema (version integer NOT NULL)")
    row = await _one(conn, "SELECT version FROM pails_schema")
    current = row[0] if row else 0
    if current > SCHEMA_VERSION:
        raise StoreUnavailable(f"the metadata database has schema version {current}, newer than this Pails knows "
                               f"({SCHEMA_VERSION}): upgrade Pails on this gateway (downgrades are refused)")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version]:
            await conn.execute(statement)
    if row is None:
        await conn.execute("INSERT INTO pails_schema VALUES (%s)", (SCHEMA_VERSION,))
    elif current < SCHEMA_VERSION:
        await conn.execute("UPDATE pails_schema SET version=%s", (SCHEMA_VERSION,))
    # Keys must compare byte by byte (S3's order).
    bad = await (await conn.execute(_MIS_COLLATED)).fetchall()
    if bad:
        raise StoreUnavailable("key columns of the metadata database do not use the \"C\" collation "
                               f"({', '.join(sorted({r[0] for r in bad}))}): listings would be out of S3 order")
