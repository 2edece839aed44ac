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

-- What the listening centres offer, as the diocesan office keeps it: one
-- row per service, areas and municipalities as comma lists.
CREATE TABLE servizi (
    codice           TEXT PRIMARY KEY,
    titolo           TEXT NOT NULL,
    descrizione      TEXT,
    aree             TEXT,            -- CASA, CIBO, LAVORO, ... comma-separated
    comuni           TEXT,            -- Belfiore codes, comma-separated
    soglia_isee      TEXT,            -- euro, decimal comma; empty when none
    orari            TEXT,            -- "lun,mer,ven 09:00-12:00"
    telefono         TEXT,
    attivo           INTEGER NOT NULL DEFAULT 1,
    aggiornato       TEXT             -- YYYY-MM-DD HH:MM:SS
);
INSERT INTO servizi VALUES
 ('CDA-CR', 'Centro di ascolto diocesano', 'Ascolto, orientamento ai servizi, aiuto per bollette e affitto.',
  'SOLITUDINE,DEBITI,BOLLETTE', 'D150', '', 'lun,mer,ven 09:00-12:00', '0372 000001', 1, '2026-10-01 09:00:00'),
 ('EMP-CR', 'Emporio solidale', 'Spesa gratuita con tessera a punti per famiglie in difficoltà.',
  'CIBO', 'D150,D142', '9360,00', 'mar,gio 15:00-18:00', '0372 000002', 1, '2026-10-01 09:00:00'),
 ('CDA-CM', 'Centro di ascolto di Crema', 'Ascolto e accompagnamento ai servizi del territorio.',
  'SOLITUDINE,LAVORO', 'D142', '', 'mar 09:30-12:00', '0373 000003', 1, '2026-10-01 09:00:00'),
 ('MEN-CR', 'Mensa della solidarietà', 'Pranzo caldo tutti i giorni feriali.',
  'CIBO', 'D150', '', 'lun-sab 11:30-13:30', '0372 000004', 1, '2026-10-01 09:00:00');
