-- Replicas: several gateways share one audit database, each writing its
-- own hash chain, named after the replica. Every row says its chain; the
-- log written before this version is the chain named ''.
ALTER TABLE trama_audit_entry ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_entry DROP CONSTRAINT trama_audit_entry_pkey;
ALTER TABLE trama_audit_entry ADD PRIMARY KEY (chain, seq);
ALTER TABLE trama_audit_subject ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_subject DROP CONSTRAINT trama_audit_subject_pkey;
ALTER TABLE trama_audit_subject ADD PRIMARY KEY (pseudonym, chain, seq);
ALTER TABLE trama_audit_checkpoint ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_checkpoint DROP CONSTRAINT trama_audit_checkpoint_pkey;
ALTER TABLE trama_audit_checkpoint ADD PRIMARY KEY (chain, seq);
ALTER TABLE trama_audit_owner ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_owner DROP CONSTRAINT trama_audit_owner_pkey;
ALTER TABLE trama_audit_owner ADD PRIMARY KEY (chain);
ALTER TABLE trama_audit_horizon ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE trama_audit_horizon DROP CONSTRAINT trama_audit_horizon_pkey;
ALTER TABLE trama_audit_horizon ADD PRIMARY KEY (chain);
