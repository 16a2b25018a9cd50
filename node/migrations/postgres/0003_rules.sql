-- The regions' rules (issue 6): per-signal details (urgency, chain registration, renewal,
-- informing), who coordinates (regie), consultation deadlines, notices (prompts, reminders,
-- alerts), objections (bezwaar), the follow-up queue, and the access log (NEN 7513).
-- Times are Unix milliseconds; dates 'YYYY-MM-DD' text; booleans 0/1 BIGINT.

-- One row per signal, written with it; older signals get one on first use.
CREATE TABLE signal_details (
    signal_id             TEXT PRIMARY KEY REFERENCES signals (id),
    urgency               BIGINT NOT NULL DEFAULT 0,   -- 004 §5, §12: 1 laag, 2 urgent; 0 none
    chain_registration    BIGINT NOT NULL DEFAULT 0,   -- 004 §11, §13: ketenregistratie
    renewed_ms            BIGINT,                      -- 003 art. 16.1: the last renewal
    renewals              BIGINT NOT NULL DEFAULT 0,
    informed              TEXT,                        -- 003 art. 9.2: parents | parents_and_youth | youth
    informed_on           TEXT,
    postponed_reason      TEXT,                        -- 003 art. 9.3
    informing_recorded_ms BIGINT,
    informing_prompted_ms BIGINT,                      -- a match prompted the signaller (003 art. 9.1)
    archive_told_ms       BIGINT,                      -- told about the archive (Jeugdwet 7.1.4.6)
    renewal_reminded_for  TEXT                         -- the end date a renewal reminder was sent for
);

-- Youths whose matches changed and need their follow-up (regie, deadlines, prompts).
CREATE TABLE followup_queue (
    bsn       TEXT PRIMARY KEY,
    queued_ms BIGINT NOT NULL
);

-- Who coordinates for a youth: at most one open coordination per youth.
CREATE TABLE coordinations (
    id                    TEXT PRIMARY KEY,
    bsn                   TEXT NOT NULL,
    coordinator_oin       TEXT NOT NULL,   -- '' while nobody is chosen
    coordinator_org       TEXT NOT NULL,
    coordinator_signal_id TEXT NOT NULL,   -- '' for a municipal coordinator or another region's party
    basis                 TEXT NOT NULL,
    lead_region           TEXT NOT NULL,   -- the region of residence leads (003 art. 13.6)
    chosen_by_oin         TEXT,
    created_ms            BIGINT NOT NULL,
    changed_ms            BIGINT NOT NULL,
    ended_ms              BIGINT
);
CREATE UNIQUE INDEX coordinations_open ON coordinations (bsn) WHERE ended_ms IS NULL;

-- The consultation each signaller of a match owes (003 art. 10.1; 002 art. 10.1).
CREATE TABLE consultations (
    match_id     TEXT NOT NULL,   -- a regional match id or the hub's match id
    signal_id    TEXT NOT NULL,
    bsn          TEXT NOT NULL,
    municipality TEXT NOT NULL,
    started_on   TEXT NOT NULL,
    due_on       TEXT NOT NULL,
    escalate_on  TEXT NOT NULL,   -- the first working day after due_on
    working_days BIGINT NOT NULL,
    consulted_on TEXT,
    answered_ms  BIGINT,
    escalated_ms BIGINT,
    closed_ms    BIGINT,          -- left the match before the deadline: nothing to escalate
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (match_id, signal_id)
);
CREATE INDEX consultations_due ON consultations (escalate_on)
    WHERE consulted_on IS NULL AND escalated_ms IS NULL AND closed_ms IS NULL;
CREATE INDEX consultations_signal ON consultations (signal_id);
CREATE INDEX consultations_bsn ON consultations (bsn);

-- Prompts, reminders and alerts; ordered with notifications by the 'notification' counter.
CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL UNIQUE,
    partner_oin TEXT NOT NULL,
    signal_id   TEXT NOT NULL,   -- the recipient's signal, '' if none
    bsn         TEXT NOT NULL,   -- the youth concerned, '' if none: for erasure and inzage
    topic       TEXT NOT NULL,
    match_id    TEXT NOT NULL,
    parties     TEXT NOT NULL,   -- JSON list of parties
    due_on      TEXT,
    detail      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    done_ms     BIGINT
);
CREATE INDEX notices_partner ON notices (partner_oin, seq);
CREATE INDEX notices_bsn ON notices (bsn);
CREATE INDEX notices_signal ON notices (signal_id);

-- Objections (bezwaar): accepted at any time, a late one flagged (001 Q30; 003 art. 18).
CREATE TABLE objections (
    id           TEXT PRIMARY KEY,
    bsn          TEXT NOT NULL,   -- '' once the youth's data are destroyed
    signal_ids   TEXT NOT NULL,   -- JSON list
    lodged_on    TEXT NOT NULL,
    lodged_by    TEXT NOT NULL,
    informed_on  TEXT,
    late         BIGINT NOT NULL,
    decision_due TEXT NOT NULL,
    reminded_on  TEXT,
    decided_on   TEXT,
    outcome      TEXT,
    recorded_by  TEXT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX objections_bsn ON objections (bsn);
CREATE INDEX objections_open ON objections (decision_due) WHERE decided_on IS NULL;

-- The access log (NEN 7513): append-only, each row hashed over the previous row's hash.
CREATE TABLE access_log (
    seq          BIGINT PRIMARY KEY,
    at_ms        BIGINT NOT NULL,
    actor_oin    TEXT NOT NULL,
    actor        TEXT NOT NULL,
    on_behalf_of TEXT NOT NULL,
    action       TEXT NOT NULL,
    object       TEXT NOT NULL,
    subject      TEXT NOT NULL,   -- keyed pseudonym of the youth, never the BSN
    result       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX access_log_subject ON access_log (subject, seq);
CREATE INDEX access_log_actor ON access_log (actor_oin, seq);
-- The chain's head: appends lock this row, so they take turns and the chain never forks.
CREATE TABLE access_log_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO access_log_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_log_no_change BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();

-- Node-local secrets (the key of the access log's subject pseudonyms).
CREATE TABLE node_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
