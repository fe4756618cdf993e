-- camward database, schema version 1.
-- One SQLite file (camward.db) in the data directory holds everything the device must remember
-- across restarts: who may log in, the configuration document, and what happened (audit log).
-- Media (recordings) live in files beside it, not here: SQLite is for small, transactional state.
-- Every write happens in a transaction; PRAGMA user_version records the migrations applied.

-- Identifies the file as camward's, so a foreign SQLite file in the data directory is refused
-- instead of being "migrated". ('cwrd' as a big-endian integer.)
PRAGMA application_id = 1668772452;

-- One row per account (paper §3.2: no default account; the first one is created at first access).
CREATE TABLE account (
  -- Internal key; never shown, so renaming could be added without touching the audit log.
  id INTEGER PRIMARY KEY,
  -- Login name, case-sensitive as the paper requires (“distinguish between upper- and lower cases”);
  -- 1–32 printable ASCII characters, checked by the password policy before insertion.
  username TEXT NOT NULL UNIQUE,
  -- Access level of the paper's User auth. screen: 1. Administrator, 2. Camera control, 3. Live only.
  level TEXT NOT NULL CHECK (level IN ('admin', 'control', 'live')),
  -- argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash): verifies passwords that arrive
  -- in clear (Basic, console); slow on purpose so a stolen file resists offline guessing.
  password_hash TEXT NOT NULL,
  -- Digest secret HA1 = MD5(username:realm:password), hex. Digest needs a password equivalent on the
  -- server; storing HA1 rather than the password means a leak exposes only this realm's login.
  ha1_md5 TEXT NOT NULL,
  -- Digest secret HA1 = SHA-256(username:realm:password), hex, for RFC 7616 SHA-256 challenges.
  ha1_sha256 TEXT NOT NULL,
  -- The realm both HA1 were computed for; if the device realm ever changes, rows with another realm
  -- can be recognised and their owners asked to set their password again.
  realm TEXT NOT NULL,
  -- Unix time (seconds) the account was created, shown in the user list and useful to auditors.
  created_at INTEGER NOT NULL,
  -- Unix time (seconds) of the last password change: supports the paper's "change periodically" advice.
  password_changed_at INTEGER NOT NULL
) STRICT;

-- The configuration document (camward-config's `Config`), stored whole as JSON in one row so a
-- PATCH replaces it atomically and a reader never sees half of a change.
CREATE TABLE config (
  -- Always 1: there is exactly one configuration.
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- Full JSON document, secrets included (they must be usable by the device); never sent to clients
  -- as is: the API serves the redacted form.
  document TEXT NOT NULL,
  -- Incremented on every change, so a reader can tell whether its copy is current.
  revision INTEGER NOT NULL,
  -- Unix time (seconds) of the last change.
  updated_at INTEGER NOT NULL
) STRICT;

-- The audit log (issue: logins and failures, lockouts, account and setting changes, with time).
-- Append-only from the application's point of view; the oldest rows are pruned past a fixed count so
-- a flood of failed logins cannot fill the card.
CREATE TABLE audit (
  -- Monotonic id: pagination key for GET /api/v1/log and the order of events.
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  -- Unix time in milliseconds when the event happened (the device clock).
  time_ms INTEGER NOT NULL,
  -- Event kind, dotted (`login.ok`, `login.fail`, `login.lockout`, `account.create`, `config.change`...).
  kind TEXT NOT NULL,
  -- Who acted or tried: the user name given (even a wrong one, for failures); NULL when anonymous.
  -- Never a password.
  actor TEXT,
  -- Peer address of the request (`192.0.2.7`, `2001:db8::1`), or NULL for the console.
  address TEXT,
  -- What the event was about: the account created/deleted, NULL when not applicable.
  target TEXT,
  -- Event-specific details as a JSON object (changed configuration paths, reason of a failure...);
  -- redacted: secrets never appear here.
  detail TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- GET /api/v1/log filters by kind prefix on recent rows; the id order covers the rest.
CREATE INDEX audit_kind ON audit (kind, id);
