-- CAF CGIL: the union's tax-assistance centre, which computes the ISEE.
-- Declarants and their DSU (dichiarazione sostitutiva unica).
CREATE TABLE dichiaranti (
    id_dich          INTEGER PRIMARY KEY,
    codfis           TEXT NOT NULL,
    cognome          TEXT NOT NULL,
    nome             TEXT NOT NULL,
    dt_nascita       TEXT,            -- YYYY-MM-DD
    cod_comune_nasc  TEXT,
    sesso            TEXT,            -- M / F
    quartiere        TEXT             -- quartiere di residenza (dalla DSU)
);
CREATE UNIQUE INDEX dichiaranti_codfis ON dichiaranti (codfis);
CREATE INDEX dichiaranti_nascita ON dichiaranti (dt_nascita);

CREATE TABLE dsu (
    protocollo       TEXT PRIMARY KEY, -- INPS-ISEE-YYYY-NNNNNNNN
    id_dich          INTEGER NOT NULL REFERENCES dichiaranti (id_dich),
    tipo_isee        TEXT,             -- ORD, CORR, MIN, SOCSAN, UNIV
    valore_isee_cent INTEGER,          -- euro cents
    data_sottoscrizione TEXT,
    scadenza         TEXT,
    n_componenti     INTEGER,
    n_minori         INTEGER,
    data_agg         TEXT NOT NULL
);
CREATE INDEX dsu_dich ON dsu (id_dich);
