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

-- The CAF's and the patronato's desks, published to the federation's
-- catalogue.
CREATE TABLE sportelli (
    codice           TEXT PRIMARY KEY,
    nome             TEXT NOT NULL,
    cosa_fa          TEXT,
    comuni           TEXT,            -- Belfiore codes served
    orario           TEXT,
    telefono         TEXT,
    email            TEXT,
    lingue           TEXT,
    prenotazione     TEXT,
    aperto           TEXT NOT NULL,   -- S / N
    data_agg         TEXT NOT NULL
);
INSERT INTO sportelli VALUES
 ('ISEE-CR', 'CAF CGIL - sportello ISEE di Cremona', 'Compilazione gratuita della DSU e rilascio dell''ISEE ordinario, corrente, per minorenni e sociosanitario.',
  'D150,B129,G469,L806,I865,E843,A972,I935,I683,D841,I906,D993', 'lun-ven 08:30-12:30 14:00-17:30', '0372 448700', 'isee.cremona@caf.example.it', 'it,en,fr,ar', 'Su appuntamento, portando documenti e redditi del nucleo', 'S', '2026-11-25 08:00:00'),
 ('ISEE-CM', 'CAF CGIL - sportello ISEE di Crema', 'DSU e ISEE gratuiti; aiuto per l''assegno unico e il bonus bollette.',
  'D142,C153,G004,A570,H315,G306,H357', 'lun,mer,ven 09:00-12:30', '0373 448701', 'isee.crema@caf.example.it', 'it,ro', 'Su appuntamento', 'S', '2026-11-25 08:00:00'),
 ('ISEE-CS', 'CAF CGIL - sportello ISEE di Casalmaggiore', 'DSU e ISEE gratuiti per le famiglie del Casalasco.',
  'B898,M418,H341,H918,L258', 'mar,gio 09:00-12:00', '0375 448702', NULL, 'it', 'Su appuntamento', 'S', '2026-11-25 08:00:00'),
 ('ISEE-SO', 'CAF CGIL - sportello ISEE di Soresina', 'DSU e ISEE gratuiti.',
  'I849,B869,A299,D966', 'mer 14:00-17:00', '0374 448703', NULL, 'it', 'Su appuntamento', 'N', '2026-06-30 08:00:00'),
 ('PAT-CR', 'Patronato INCA - Cremona', 'Pensioni, invalidità civile e accompagnamento, assegno unico, disoccupazione, infortuni: domande e ricorsi gratuiti.',
  'D150,B129,G469,L806,I865,E843,A972,I935,I683,D841,I906,D993,E217,G721', 'lun-ven 08:30-12:30', '0372 448710', 'inca.cremona@patronato.example.it', 'it,en,ar', 'Senza appuntamento il mattino', 'S', '2026-11-20 08:00:00'),
 ('PAT-CM', 'Patronato INCA - Crema', 'Pensioni, invalidità, permessi della legge 104 e prestazioni per la famiglia.',
  'D142,C153,G004,A570', 'mar,gio 14:30-18:00', '0373 448711', 'inca.crema@patronato.example.it', 'it,ro,uk', 'Su appuntamento', 'S', '2026-11-20 08:00:00');
