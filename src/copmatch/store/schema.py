"""The store's schema: the migration steps that build it, in order.

Kept apart from ``store.py`` so the data access code reads without 100 lines of DDL first.
"""

from __future__ import annotations

# Each entry migrates the schema from version i to i + 1. Append, never edit: a
# database records the version it reached and runs only the steps after it.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE members (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        silo TEXT,
        silo_source TEXT,
        bio TEXT NOT NULL DEFAULT '',
        skills TEXT NOT NULL DEFAULT '[]',
        roles TEXT NOT NULL DEFAULT '[]',
        opt_out INTEGER NOT NULL DEFAULT 0,
        created_at TEXT,
        updated_at TEXT
    );
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        parent_id TEXT,
        accepted INTEGER NOT NULL DEFAULT 0,
        score INTEGER NOT NULL DEFAULT 0,
        created_at TEXT,
        community TEXT,
        updated_at TEXT
    );
    CREATE INDEX documents_parent ON documents(parent_id);
    CREATE TABLE contributions (
        member_id TEXT NOT NULL REFERENCES members(id),
        document_id TEXT NOT NULL REFERENCES documents(id),
        role TEXT NOT NULL,
        PRIMARY KEY (member_id, document_id, role)
    );
    CREATE INDEX contributions_document ON contributions(document_id);
    CREATE TABLE passages (
        id INTEGER PRIMARY KEY,
        document_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        text_hash TEXT NOT NULL
    );
    CREATE INDEX passages_document ON passages(document_id);
    CREATE TABLE index_builds (
        version TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        model_id TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        counts TEXT NOT NULL DEFAULT '{}',
        timings TEXT NOT NULL DEFAULT '{}',
        error TEXT
    );
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        at TEXT NOT NULL,
        counts TEXT NOT NULL
    );
    """,
    # 2: API keys (only a SHA-256 of each key is kept).
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        member_id TEXT,
        label TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
    # 3: introductions between members, reviewed by brokers, with their history.
    """
    CREATE TABLE introductions (
        id INTEGER PRIMARY KEY,
        member_a TEXT NOT NULL REFERENCES members(id),
        member_b TEXT NOT NULL REFERENCES members(id),
        score REAL NOT NULL,
        reasons TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        broker TEXT,
        note TEXT,
        outcome TEXT,
        created_at TEXT NOT NULL,
        decided_at TEXT,
        updated_at TEXT NOT NULL,
        CHECK (member_a < member_b),
        UNIQUE (member_a, member_b)
    );
    CREATE INDEX introductions_status ON introductions(status);
    CREATE TABLE introduction_events (
        id INTEGER PRIMARY KEY,
        introduction_id INTEGER NOT NULL REFERENCES introductions(id),
        from_status TEXT,
        to_status TEXT NOT NULL,
        broker TEXT,
        note TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX introduction_events_introduction ON introduction_events(introduction_id);
    """,
    # 4: feedback on suggested experts: did this member help with this question?
    """
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        query TEXT NOT NULL,
        member_id TEXT NOT NULL REFERENCES members(id),
        helpful INTEGER NOT NULL,
        given_by TEXT,
        index_version TEXT,
        note TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX feedback_member ON feedback(member_id);
    """,
    # 5: signed-in browser sessions of the web pages: only a SHA-256 of the cookie's token is
    # kept, with the key it was opened with (revoking the key ends its sessions) and the
    # session's CSRF token.
    """
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES api_keys(id),
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX web_sessions_key ON web_sessions(key_id);
    """,
    # 6: every record keeps the source that imported it (a dump's site or a name the admin
    # gives), so a second source never overwrites the first; a source whose ids collide with
    # another's is stored under a prefix ("coffee:17"). Rows from before have no source.
    """
    ALTER TABLE members ADD COLUMN source TEXT;
    ALTER TABLE documents ADD COLUMN source TEXT;
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        id_prefix TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    """,
    # 7: change tracking for incremental index builds: every import or deletion takes the next
    # store revision; documents carry the one that last wrote them, deletions leave a tombstone.
    """
    ALTER TABLE documents ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX documents_revision ON documents(revision);
    CREATE TABLE document_deletions (
        document_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX document_deletions_revision ON document_deletions(revision);
    CREATE TABLE store_revision (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revision INTEGER NOT NULL
    );
    INSERT INTO store_revision VALUES (1, 0);
    """,
    # 8: answers' questions read from an index alone: an incremental build reads them all, and
    # at 780k documents scanning the table (bodies and all) took 1.5 s, this index 0.4 s.
    """
    DROP INDEX documents_parent;
    CREATE INDEX documents_parent ON documents(parent_id, id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
