-- Every row says its chain, as on PostgreSQL, so that one set of queries
-- serves both engines. A SQLite file has one writer and so one chain, the
-- one named '': the keys stay as they are (the entry's sequence number is
-- still the rowid), and unique indexes give the statements that name the
-- chain in ON CONFLICT the same targets as on PostgreSQL.
ALTER TABLE trama_audit_entry ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_subject ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_checkpoint ADD COLUMN chain TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS trama_audit_checkpoint_chain ON trama_audit_checkpoint (chain, seq);
ALTER TABLE trama_audit_owner ADD COLUMN chain TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS trama_audit_owner_chain ON trama_audit_owner (chain);
ALTER TABLE trama_audit_horizon ADD COLUMN chain TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS trama_audit_horizon_chain ON trama_audit_horizon (chain);
