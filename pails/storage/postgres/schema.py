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

# Version 2: bucket usage, kept by statement triggers in the transaction of
# every write.  Many gateways commit at once, so a bucket's counters are split
# into shard rows, one per committing backend (its pid modulo 1024): their
# commits never wait on each other's usage row, and the usage is the sum over
# the bucket's shards.  Each shard row remembers what it held before the
# transaction now changing it (``xact``, ``base_*``) and whether the bucket
# has a quota, so that a deferred check at COMMIT, queued only for buckets
# with a quota, knows whether that transaction grew the bucket; it then locks
# the quota row (serializing those commits) and sums the shards, and refuses
# the commit past the quota.
_USAGE_COUNTERS = ("objects", "bytes", "noncurrent_objects", "noncurrent_bytes", "delete_markers", "uploads",
                   "parts", "part_bytes")
_STORED_BYTES = "{0}bytes + {0}noncurrent_bytes + {0}part_bytes"
_STORED_OBJECTS = "{0}objects + {0}noncurrent_objects"
_UPSERT = ("INSERT INTO bucket_usage AS u (bucket_id, shard, xact, quota, {cols}) "
           "SELECT bucket_id, pg_backend_pid() % 1024, txid_current(), "
           "EXISTS (SELECT 1 FROM bucket_quota q WHERE q.bucket_id = d.bucket_id), {sums} "
           "FROM ({rows}) d GROUP BY bucket_id HAVING {nonzero} "
           "ON CONFLICT (bucket_id, shard) DO UPDATE SET quota = excluded.quota, "
           "base_bytes = CASE WHEN u.xact = txid_current() THEN u.base_bytes ELSE "
           + _STORED_BYTES.format("u.") + " END, "
           "base_objects = CASE WHEN u.xact = txid_current() THEN u.base_objects ELSE "
           + _STORED_OBJECTS.format("u.") + " END, xact = txid_current(), {adds}")


def _usage_function(name: str, cols: tuple[str, ...], new: str, old: str, bucket: str = "bucket_id") -> str:
    """A statement trigger's function adding the rows a statement inserted
    (``new``: the counter expressions of a row, in ``cols`` order), and
    taking away the rows it deleted (``old``), to the usage shard."""
    def upsert(rows: str) -> str:
        return _UPSERT.format(cols=", ".join(cols), sums=", ".join(f"sum({c})" for c in cols), rows=rows,
                              nonzero=" OR ".join(f"sum({c}) <> 0" for c in cols),
                              adds=", ".join(f"{c} = u.{c} + excluded.{c}" for c in cols))
    neg = ", ".join(f"-({e}) AS {c}" for e, c in zip(old.split(";"), cols, strict=True))
    pos = ", ".join(f"{e} AS {c}" for e, c in zip(new.split(";"), cols, strict=True))
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'INSERT' THEN {upsert(f'SELECT {bucket} AS bucket_id, {pos} FROM new_rows')}; "
            f"ELSIF TG_OP = 'DELETE' THEN {upsert(f'SELECT {bucket} AS bucket_id, {neg} FROM old_rows')}; "
            f"ELSE {upsert(f'SELECT {bucket} AS bucket_id, {pos} FROM new_rows UNION ALL SELECT {bucket}, {neg} FROM old_rows')}; "  # noqa: E501
            "END IF; RETURN NULL; END $$")


def _usage_triggers(table: str, function: str) -> tuple[str, ...]:
    return tuple(f"CREATE TRIGGER {table}_usage_{op.lower()} AFTER {op} ON {table} "
                 f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                 for op, refs in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                                  ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")))


_VERSION_COLS = ("1 - delete_marker;size;delete_marker", "1 - delete_marker;size;delete_marker")
SCHEMA_V2 = (
    "ALTER TABLE multipart_parts ADD COLUMN bucket_id bigint",
    "UPDATE multipart_parts p SET bucket_id = u.bucket_id FROM multipart_uploads u WHERE u.upload_id = p.upload_id",
    "ALTER TABLE multipart_parts ALTER COLUMN bucket_id SET NOT NULL",
    "CREATE TABLE bucket_usage (bucket_id bigint NOT NULL, shard integer NOT NULL, "
    + ", ".join(f"{c} bigint NOT NULL DEFAULT 0" for c in _USAGE_COUNTERS) +
    ", xact bigint NOT NULL DEFAULT 0, quota boolean NOT NULL DEFAULT false, base_bytes bigint NOT NULL DEFAULT 0, "
    "base_objects bigint NOT NULL DEFAULT 0, PRIMARY KEY (bucket_id, shard))",
    # A copy of the quota in the buckets' props, for the check at commit; a row only where there is one.
    "CREATE TABLE bucket_quota (bucket_id bigint PRIMARY KEY, max_bytes bigint, max_objects bigint)",
    _usage_function("pails_usage_objects", ("objects", "bytes", "delete_markers"), *_VERSION_COLS),
    _usage_function("pails_usage_versions", ("noncurrent_objects", "noncurrent_bytes", "delete_markers"),
                    *_VERSION_COLS),
    _usage_function("pails_usage_uploads", ("uploads",), "1", "1"),
    _usage_function("pails_usage_parts", ("parts", "part_bytes"), "1;size", "1;size"),
    *_usage_triggers("objects", "pails_usage_objects"),
    *_usage_triggers("object_versions", "pails_usage_versions"),
    *_usage_triggers("multipart_uploads", "pails_usage_uploads"),
    *_usage_triggers("multipart_parts", "pails_usage_parts"),
    # The check at COMMIT, queued only by a change that grew the shard of a bucket with a quota (WHEN;
    # ``quota`` is looked up by each upsert: a bucket without one costs an index probe of bucket_quota).
    "CREATE FUNCTION pails_quota_check() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE q record; mine record; total record; BEGIN "
    "SELECT max_bytes, max_objects INTO q FROM bucket_quota WHERE bucket_id = NEW.bucket_id FOR UPDATE; "
    "IF NOT FOUND THEN RETURN NULL; END IF; "
    "SELECT " + _STORED_BYTES.format("") + " - base_bytes AS grew_bytes, "
    + _STORED_OBJECTS.format("") + " - base_objects AS grew_objects INTO mine FROM bucket_usage "
    "WHERE bucket_id = NEW.bucket_id AND shard = NEW.shard AND xact = txid_current(); "
    "IF NOT FOUND THEN RETURN NULL; END IF; "
    "SELECT sum(" + _STORED_BYTES.format("") + ") AS b, sum(" + _STORED_OBJECTS.format("") + ") AS o "
    "INTO total FROM bucket_usage WHERE bucket_id = NEW.bucket_id; "
    "IF (q.max_bytes IS NOT NULL AND mine.grew_bytes > 0 AND total.b > q.max_bytes) "
    "OR (q.max_objects IS NOT NULL AND mine.grew_objects > 0 AND total.o > q.max_objects) THEN "
    "RAISE EXCEPTION 'pails_quota_exceeded' USING ERRCODE = 'check_violation'; END IF; "
    "RETURN NULL; END $$",
    "CREATE CONSTRAINT TRIGGER bucket_usage_quota AFTER INSERT OR UPDATE ON bucket_usage "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.quota AND ("
    + _STORED_BYTES.format("NEW.") + " > NEW.base_bytes OR " + _STORED_OBJECTS.format("NEW.")
    + " > NEW.base_objects)) EXECUTE FUNCTION pails_quota_check()",
    # The counters of the data already there.
    "INSERT INTO bucket_usage (bucket_id, shard, " + ", ".join(_USAGE_COUNTERS) + ") SELECT b.id, -1, "
    "(SELECT count(*) FROM objects WHERE bucket_id = b.id AND delete_marker = 0), "
    "(SELECT coalesce(sum(size), 0) FROM objects WHERE bucket_id = b.id), "
    "(SELECT count(*) FROM object_versions WHERE bucket_id = b.id AND delete_marker = 0), "
    "(SELECT coalesce(sum(size), 0) FROM object_versions WHERE bucket_id = b.id), "
    "(SELECT count(*) FROM objects WHERE bucket_id = b.id AND delete_marker = 1) "
    "+ (SELECT count(*) FROM object_versions WHERE bucket_id = b.id AND delete_marker = 1), "
    "(SELECT count(*) FROM multipart_uploads WHERE bucket_id = b.id), "
    "(SELECT count(*) FROM multipart_parts WHERE bucket_id = b.id), "
    "(SELECT coalesce(sum(size), 0) FROM multipart_parts WHERE bucket_id = b.id) FROM buckets b",
)

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

# Bucket notifications (docs/notifications.md): the operator's targets and the outbox of events not yet
# acknowledged by their target (written in the commit of the change that caused them).
SCHEMA_V4 = (
    """CREATE TABLE event_targets (
        name    text PRIMARY KEY,
        kind    text NOT NULL,
        config  text NOT NULL,
        created double precision NOT NULL
    )""",
    """CREATE TABLE event_outbox (
        id      bigserial PRIMARY KEY,
        target  text NOT NULL,
        created double precision NOT NULL,
        record  text NOT NULL
    )""",
    "CREATE INDEX event_outbox_by_target ON event_outbox (target, id)",
    """CREATE TABLE event_counters (
        target     text PRIMARY KEY,
        delivered  bigint NOT NULL DEFAULT 0,
        dropped    bigint NOT NULL DEFAULT 0,
        failures   bigint NOT NULL DEFAULT 0,
        last_error text
    )""",
)

# version -> statements that reach it from version - 1
MIGRATIONS: dict[int, tuple[str, ...]] = {1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA_V3, 4: SCHEMA_V4}
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
