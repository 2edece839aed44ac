-- Client allowances shared by gateway replicas: one token bucket and one
-- daily count per client organisation, taken under a row lock, on the
-- database's clock.
CREATE TABLE IF NOT EXISTS trama_allowance (
    organisation TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL, day TEXT NOT NULL, today BIGINT NOT NULL);
