-- The referral store (the same on SQLite and PostgreSQL): each referral's
-- parties, status, delivery and sealed content until delivered; every
-- status change; where each partner's own changes were last read.
CREATE TABLE IF NOT EXISTS trama_referral (
    id TEXT PRIMARY KEY, sender TEXT NOT NULL, sender_operator TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL, fingerprint TEXT NOT NULL, target TEXT NOT NULL,
    target_service TEXT NOT NULL, urgency BIGINT NOT NULL, purpose TEXT NOT NULL,
    case_id TEXT NOT NULL, status BIGINT NOT NULL, status_reason TEXT NOT NULL,
    created BIGINT NOT NULL, due BIGINT NOT NULL, delivery BIGINT NOT NULL,
    attempts BIGINT NOT NULL, next_attempt BIGINT NOT NULL, problem TEXT NOT NULL,
    delivered BIGINT NOT NULL, sealed TEXT, subjects TEXT NOT NULL,
    UNIQUE (sender, key_fingerprint));
CREATE TABLE IF NOT EXISTS trama_referral_event (
    referral TEXT NOT NULL, seq BIGINT NOT NULL, status BIGINT NOT NULL, reason TEXT NOT NULL,
    organisation TEXT NOT NULL, operator TEXT NOT NULL, at BIGINT NOT NULL, via TEXT NOT NULL,
    pushed BIGINT NOT NULL, PRIMARY KEY (referral, seq));
CREATE TABLE IF NOT EXISTS trama_referral_cursor (
    organisation TEXT PRIMARY KEY, as_of TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS trama_referral_pending ON trama_referral (delivery, next_attempt);
