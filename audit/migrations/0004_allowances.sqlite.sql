-- Client allowances shared by gateway replicas (on PostgreSQL; a gateway
-- on a SQLite file runs alone and counts in memory). Kept for one schema.
CREATE TABLE IF NOT EXISTS trama_allowance (
    organisation TEXT PRIMARY KEY, tokens REAL NOT NULL,
    at REAL NOT NULL, day TEXT NOT NULL, today BIGINT NOT NULL);
