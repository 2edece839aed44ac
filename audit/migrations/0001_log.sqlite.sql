-- The audit log on SQLite: the hash chain, the subject index, the signed
-- checkpoints and the node that writes the log.
CREATE TABLE IF NOT EXISTS trama_audit_entry (
    seq INTEGER PRIMARY KEY, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trama_audit_subject (
    pseudonym TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (pseudonym, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trama_audit_checkpoint (
    seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, time TEXT NOT NULL,
    scheme TEXT NOT NULL, signature TEXT NOT NULL, key_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trama_audit_owner (
    id BIGINT PRIMARY KEY, identity TEXT NOT NULL, config TEXT NOT NULL,
    listen TEXT NOT NULL, since TEXT NOT NULL);
