-- What consoles share so that any of them serves any browser: operators'
-- sessions and sign-ins in progress. Each row is found by the SHA-256 of
-- its id (the cookie's value never stored), holds its contents sealed
-- under the consoles' session key, and goes when it expires.
CREATE TABLE IF NOT EXISTS trama_console_secret (
    kind TEXT NOT NULL, id_hash TEXT NOT NULL, sealed TEXT NOT NULL,
    seen BIGINT NOT NULL, expires BIGINT NOT NULL,
    PRIMARY KEY (kind, id_hash));
CREATE INDEX IF NOT EXISTS trama_console_secret_expires ON trama_console_secret (expires);
