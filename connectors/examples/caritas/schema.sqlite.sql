-- Centro di ascolto Caritas: the listening centre's own small database,
-- kept by volunteers. Many people have no tax code; dates are DD/MM/YYYY;
-- amounts are text with a decimal comma.
CREATE TABLE persone (
    id               INTEGER PRIMARY KEY,
    cf               TEXT,            -- often missing
    cognome          TEXT NOT NULL,
    nome             TEXT NOT NULL,
    nato_il          TEXT,            -- DD/MM/YYYY
    luogo_nascita    TEXT,            -- codice catastale, when known
    genere           TEXT,            -- Uomo / Donna
    zona             TEXT,            -- quartiere, quando la persona lo dice
    ultimo_colloquio TEXT             -- YYYY-MM-DD
);
CREATE INDEX persone_cf ON persone (cf);
CREATE INDEX persone_cognome ON persone (upper(cognome));
CREATE INDEX persone_nato_il ON persone (nato_il);

CREATE TABLE aiuti (
    id               INTEGER PRIMARY KEY,
    persona_id       INTEGER NOT NULL REFERENCES persone (id),
    tipo             TEXT,            -- PACCO, BOLLETTA, AFFITTO, VESTIARIO, ASCOLTO
    data             TEXT,            -- DD/MM/YYYY
    valore           TEXT,            -- euro, decimal comma
    note             TEXT
);
CREATE INDEX aiuti_persona ON aiuti (persona_id);

CREATE TABLE bisogni_rilevati (
    id               INTEGER PRIMARY KEY,
    persona_id       INTEGER NOT NULL REFERENCES persone (id),
    bisogno          TEXT,            -- CASA, CIBO, LAVORO, SALUTE, SOLITUDINE, DEBITI, BOLLETTE
    data             TEXT             -- DD/MM/YYYY
);
CREATE INDEX bisogni_persona ON bisogni_rilevati (persona_id);

CREATE TABLE volontari_referenti (
    id               INTEGER PRIMARY KEY,
    persona_id       INTEGER NOT NULL REFERENCES persone (id),
    referente        TEXT,
    parrocchia       TEXT
);
CREATE INDEX referenti_persona ON volontari_referenti (persona_id);
