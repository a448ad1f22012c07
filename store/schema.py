"""Every table Tributary owns, defined once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)

metadata = MetaData()

connections = Table(
    "connections",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("provider", String(50), nullable=False),
    Column("tenant", String(200), nullable=False),
    # Non-secret settings only (URLs, client id, page size, ...); secrets live in `credentials`.
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column(
        "connection",
        String(200),
        ForeignKey("connections.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Fernet token of the JSON secrets (client secret, refresh token, access token).
    Column("ciphertext", LargeBinary, nullable=False),
    Column("access_expires_at", DateTime),
    # Compare-and-set guard: a refresh only replaces the version it read.
    Column("version", Integer, nullable=False, default=0),
    Column("refresh_count", Integer, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),
)

# Who refreshes a connection's token right now, and until when: a lease claimed in a short
# transaction, so no database lock is held across the provider's call (store.token_refreshes).
# Also the lifetime of the access token the last refresh stored (it bounds the refresh margin),
# valid while `credentials.version` is still `credential_version`. A table of its own rather
# than columns of `credentials`: create_all adds new tables to existing databases, not columns.
token_refreshes = Table(
    "token_refreshes",
    metadata,
    Column(
        "connection",
        String(200),
        ForeignKey("connections.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("holder", String(64)),
    Column("lease_expires_at", DateTime),
    Column("credential_version", Integer),
    Column("lifetime_s", Integer),
)

stream_state = Table(
    "stream_state",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("watermark", DateTime),
    Column("last_success_at", DateTime),
    Column("records_synced", Integer, nullable=False, default=0),
    Column("retries", Integer, nullable=False, default=0),
    Column("errors_by_category", JSON, nullable=False, default=dict),
    Column("last_error", Text),
    Column("last_error_at", DateTime),
    # Set while the provider's rate limit (e.g. a daily quota) holds the stream back.
    Column("blocked_until", DateTime),
    # The provider's own account of its quota, as last reported (Salesforce's daily API usage).
    Column("provider_usage", JSON),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("window_id", String(300), primary_key=True),
    Column("connection", String(200), nullable=False, index=True),
    Column("stream", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("window_start", DateTime),
    Column("window_end", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("pages", Integer, nullable=False, default=0),
    Column("records_upserted", Integer, nullable=False, default=0),
    Column("records_rejected", Integer, nullable=False, default=0),
)

# The last completed deletes pass of each stream (store.deletes): when it started (the instant
# the destination is reconciled as of) and how many rows it archived. A table of its own, not
# columns of stream_state: create_all adds new tables to existing databases, not columns.
delete_passes = Table(
    "delete_passes",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("last_run_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=False),
    Column("archived_count", Integer, nullable=False, default=0),
    Column("archived_total", Integer, nullable=False, default=0),
)

staged_pages = Table(
    "staged_pages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("window_id", String(300), nullable=False),
    Column("page_no", Integer, nullable=False),
    Column("connection", String(200), nullable=False),
    Column("stream", String(100), nullable=False),
    Column("raw", Text, nullable=False),
    Column("fetched", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("window_id", "page_no", name="uq_staged_page"),
)
# A staged page's transform and upsert results live apart from its raw body: SQLite rewrites a
# whole row, overflow pages and all, on any update, and a page's raw body is hundreds of KiB.
# (Databases created before keep nullable result columns in staged_pages, unused.)
transformed_pages = Table(
    "transformed_pages",
    metadata,
    Column("page_id", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    Column("valid", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)
upserted_pages = Table(
    "upserted_pages",
    metadata,
    Column("page_id", Integer, primary_key=True, autoincrement=False),
    Column("upserted", Integer, nullable=False),
    Column("max_updated_at", DateTime),
)

# PostgreSQL compresses a large text value before storing it (pglz, a sixth of its CPU in a full
# sync), and staged bodies are written once and read once: store them as they are.
for _table, _column in ((staged_pages, "raw"), (transformed_pages, "body")):
    _uncompressed = DDL(  # type: ignore[no-untyped-call]  # SQLAlchemy leaves DDL() untyped
        f"ALTER TABLE %(fullname)s ALTER COLUMN {_column} SET STORAGE EXTERNAL",
    )
    event.listen(_table, "after_create", _uncompressed.execute_if(dialect="postgresql"))

rejected_records = Table(
    "rejected_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", String(200), nullable=False),
    Column("stream", String(100), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("error", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("window_id", String(300), nullable=False),
    Column("rejected_at", DateTime, nullable=False),
    UniqueConstraint("connection", "stream", "external_id", name="uq_rejected_record"),
)


# A portal's property names per stream, as last read (connectors.hubspot_properties), and
# when: the cache that spares a properties request per cycle. Tables of their own (see above).
provider_properties = Table(
    "provider_properties",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("names", JSON, nullable=False),
    Column("checked_at", DateTime, nullable=False),
)
# Properties created or archived upstream between two reads of that list.
schema_changes = Table(
    "schema_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", String(200), nullable=False, index=True),
    Column("stream", String(100), nullable=False),
    Column("property", String(200), nullable=False),
    Column("change", String(20), nullable=False),  # created | archived
    Column("seen_at", DateTime, nullable=False),
)


def _canonical(name: str, *columns: Column[Any]) -> Table:
    """A destination table: one row per (connection, stream, external id)."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("connection", String(200), nullable=False),
        Column("stream", String(100), nullable=False),
        Column("external_id", String(200), nullable=False),
        *columns,
        Column("source_created_at", DateTime),
        Column("source_updated_at", DateTime, nullable=False),
        # Soft delete: the source archived or deleted the record; the row stays, flagged.
        Column("archived", Boolean, nullable=False, default=False),
        Column("synced_at", DateTime, nullable=False),
        UniqueConstraint("connection", "stream", "external_id", name=f"uq_{name}_record"),
    )


contacts = _canonical(
    "contacts",
    Column("email", String(320), nullable=False),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("phone", String(64)),
    Column("company", String(300)),
    Column("lifecycle_stage", String(100)),
)

companies = _canonical(
    "companies",
    Column("name", String(300), nullable=False),
    Column("domain", String(300)),
    Column("industry", String(200)),
    Column("phone", String(64)),
    Column("employees", Integer),
    Column("annual_revenue", Numeric(18, 2)),
)

deals = _canonical(
    "deals",
    Column("name", String(300), nullable=False),
    Column("amount", Numeric(18, 2)),
    Column("currency", String(3)),
    Column("stage", String(100)),
    Column("pipeline", String(100)),
    Column("close_date", DateTime),
    Column("company_external_id", String(200)),
)

CANONICAL_TABLES: dict[str, Table] = {"contacts": contacts, "companies": companies, "deals": deals}

# Associations between records (HubSpot's contact<->company, deal<->company, deal<->contact),
# one row per direction and association type, as read for the `from` record: HubSpot keeps a
# type id per direction. Removed upstream: archived, never deleted (store.associations).
associations = Table(
    "associations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", String(200), nullable=False),
    Column("from_entity", String(100), nullable=False),
    Column("from_external_id", String(200), nullable=False),
    Column("to_entity", String(100), nullable=False),
    Column("to_external_id", String(200), nullable=False),
    Column("type_id", Integer, nullable=False),
    Column("category", String(40), nullable=False),
    Column("label", String(200)),
    Column("archived", Boolean, nullable=False, default=False),
    Column("synced_at", DateTime, nullable=False),
    UniqueConstraint("connection", "from_entity", "from_external_id", "to_entity",
                     "to_external_id", "type_id", name="uq_association"),
)

# Where a stream's periodic re-read of every record's associations stands: `cursor` is the last
# external id done while a pass runs (None between passes); `finished_at` when the last ended.
association_reconciles = Table(
    "association_reconciles",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("cursor", String(200)),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
)
