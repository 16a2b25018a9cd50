-- Inzage across regions (issue 6): which region asked, and which regions the hub asked, so an
-- answer is relayed only from an asked region back to the requester. Ids and region codes only.
CREATE TABLE inzage_requests (
    request_id   TEXT PRIMARY KEY,
    from_region  TEXT NOT NULL,
    -- Asked regions, comma-separated, in code order.
    asked        TEXT NOT NULL,
    created_ms   BIGINT NOT NULL
);
