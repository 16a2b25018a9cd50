-- The web UI's accounts and sessions, and the mail outbox (issue 7).
-- Times are Unix milliseconds by the node's clock.

-- A professional or administrator of a partner organisation (by OIN). The password is an
-- Argon2id PHC string; failed logins count towards a lockout.
CREATE TABLE web_accounts (
    id              TEXT PRIMARY KEY,
    partner_oin     TEXT NOT NULL,
    username        TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('professional', 'administrator')),
    password_hash   TEXT NOT NULL,
    failed_logins   BIGINT NOT NULL,
    locked_until_ms BIGINT,
    active          BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX web_accounts_partner ON web_accounts (partner_oin);

-- A login session: only the SHA-256 of the cookie's random id is stored.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES web_accounts (id),
    csrf_token TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);

-- Mails to send: one row per recipient, made in the transaction that advances the cursor over
-- notifications and notices, sent by the mailer and then marked.
CREATE TABLE mail_outbox (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,     -- 'notification:<id>' or 'notice:<id>'
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    last_error  TEXT,
    sent_ms     BIGINT
);
CREATE INDEX mail_outbox_unsent ON mail_outbox (created_ms) WHERE sent_ms IS NULL;
CREATE UNIQUE INDEX mail_outbox_once ON mail_outbox (source, recipient);

-- How far the mailer has read notifications and notices (their shared 'notification' counter).
-- Starts at the counter's value now: what was told before mail existed is not mailed.
CREATE TABLE mail_cursor (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO mail_cursor (id, last_seq) SELECT 1, value FROM counters WHERE name = 'notification';
