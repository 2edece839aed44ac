-- Retention: the entries up to a signed checkpoint have been removed; the
-- log now starts after that checkpoint, whose hash the next entry follows.
CREATE TABLE IF NOT EXISTS trama_audit_horizon (
    id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, pruned_at TEXT NOT NULL);
