-- Cartella sociale del Comune on PostgreSQL: the same legacy schema as
-- schema.sqlite.sql, with the engine's own types.
CREATE TABLE assistiti (
    id_assistito     INTEGER PRIMARY KEY,
    codice_fiscale   VARCHAR(16),
    cognome          VARCHAR(80) NOT NULL,
    nome             VARCHAR(80) NOT NULL,
    data_nascita     DATE,
    comune_nascita   CHAR(4),          -- codice catastale (Belfiore)
    sesso            CHAR(1),          -- M / F
    quartiere        VARCHAR(40),
    indirizzo        VARCHAR(120),
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE abitazioni (
    id_abitazione    INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    titolo_godimento VARCHAR(10),      -- PROP, AFF_PRIV, ERP, OSPITE, DORM, SFD
    condizione       VARCHAR(10),      -- ADEG, SOVRAFF, INAG, SFRATTO
    dal              DATE,
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE nuclei (
    id_nucleo        INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    n_componenti     SMALLINT,
    n_minori         SMALLINT,
    tipo_nucleo      VARCHAR(14),      -- UNIP, COPPIA, COPPIA_FIGLI, MONOGEN, ESTESO
    condizione_lav   VARCHAR(8),       -- OCC, DISOCC, PENS, STUD, INATT, INAB
    fascia_reddito   CHAR(2),          -- F0 .. F4
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE bisogni (
    id_bisogno       INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    area             VARCHAR(6),
    gravita          SMALLINT,         -- 1 lieve, 2 media, 3 grave
    data_rilevazione DATE,
    aperto           CHAR(1),          -- S / N
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE rete_sostegno (
    id_risorsa       INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    tipo             VARCHAR(4),       -- PAR, VIC, VOL, PARR, ASS, AMI
    descrizione      VARCHAR(200),
    attiva           SMALLINT,
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE interventi (
    id_intervento    INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    tipo_intervento  VARCHAR(10),      -- CONTR_ECO, SAD, PASTI, SOST_ABIT, TRASP, EDU
    ente_erogatore   VARCHAR(80),
    data_inizio      DATE,
    data_fine        DATE,
    importo          NUMERIC(10, 2),   -- euro
    codice_voucher   VARCHAR(20),
    valore_voucher   NUMERIC(10, 2),
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE cartelle (
    id_cartella      VARCHAR(20) PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    servizio         VARCHAR(60),
    assistente_sociale VARCHAR(60),
    data_apertura    DATE,
    stato            VARCHAR(8),       -- APERTA, SOSPESA, CHIUSA
    dt_agg           TIMESTAMP NOT NULL
);

CREATE TABLE provvedimenti_ag (
    id_provv         INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    tipo             VARCHAR(4),       -- ADS, TUT, CUR, TM
    tribunale        VARCHAR(80),
    dal              DATE,
    al               DATE,
    tutore           VARCHAR(80),
    dt_agg           TIMESTAMP NOT NULL
);

-- The services the comune offers, published to the federation's catalogue.
CREATE TABLE servizi (
    codice           TEXT PRIMARY KEY,
    titolo           TEXT NOT NULL,
    descrizione      TEXT,
    aree             TEXT,            -- area codes, comma-separated
    comuni           TEXT,            -- Belfiore codes, comma-separated
    eta_min          INTEGER,
    eta_max          INTEGER,
    tariffa          NUMERIC(10, 2),   -- euro
    nota_tariffa     TEXT,
    buoni            TEXT,            -- voucher schemes accepted
    soglia_isee      NUMERIC(10, 2),   -- euro
    accreditato      SMALLINT,
    orari            TEXT,
    telefono         TEXT,
    modalita         TEXT,            -- how to apply
    aggiornato       TIMESTAMP NOT NULL
);
INSERT INTO servizi (codice, titolo, descrizione, aree, comuni, eta_min, eta_max, tariffa, nota_tariffa, buoni, soglia_isee, accreditato, orari, telefono, modalita, aggiornato) VALUES
 ('SAD', 'Servizio di assistenza domiciliare (SAD)', 'Aiuto a domicilio per anziani e persone fragili: igiene, pasti, compagnia, piccole commissioni.',
  'SOLIT,DIS', 'D150', 0, 0, 5.00, 'all''ora, secondo ISEE', 'voucher-conciliazione', NULL, 1, 'lun-ven 08:00-18:00', '0372 407001', 'Domanda allo sportello sociale', '2026-10-15 08:00:00'),
 ('AES', 'Assistenza educativa scolastica per alunni con disabilità', 'Educatori a scuola per alunni con disabilità certificata.',
  'DIS,FAM', 'D150', 3, 18, NULL, NULL, NULL, NULL, 1, 'lun-ven 08:00-16:00', '0372 407002', 'Richiesta della scuola con la certificazione', '2026-09-01 08:00:00'),
 ('TRS', 'Trasporto sociale per persone con disabilità', 'Accompagnamento con mezzi attrezzati a visite, terapie e centri diurni.',
  'DIS', 'D150,D142', 0, 0, 2.00, 'a corsa', NULL, 20000.00, 1, 'lun-ven 07:30-18:00', '0372 407003', 'Prenotazione telefonica due giorni prima', '2026-10-01 08:00:00'),
 ('VCL', 'Voucher conciliazione vita-lavoro', 'Contributo per servizi di cura dei figli e dei familiari fragili, spendibile presso i fornitori accreditati.',
  'FAM,LAV', 'D150,D142,C153', 0, 0, NULL, NULL, NULL, 30000.00, 0, 'lun,mer 09:00-12:30', '0372 407004', 'Domanda online o allo sportello', '2026-11-02 08:00:00');

-- Segnalazioni in arrivo (see schema.sqlite.sql). Times are UTC text,
-- YYYY-MM-DD HH:MM:SS, as the social services' software writes them.
CREATE TABLE segnalazioni_in (
    id_trama           VARCHAR(36) PRIMARY KEY,
    ente_inviante      VARCHAR(40) NOT NULL,
    operatore_inviante VARCHAR(80),
    servizio           VARCHAR(80),
    urgenza            VARCHAR(10) NOT NULL,
    codice_fiscale     VARCHAR(16),
    cognome            VARCHAR(80),
    nome               VARCHAR(80),
    data_nascita       DATE,
    comune_nascita     CHAR(4),
    motivi             VARCHAR(200) NOT NULL,
    messaggio          TEXT,
    finalita           VARCHAR(60),
    pratica_inviante   VARCHAR(60),
    ricevuta           VARCHAR(19) NOT NULL,
    entro              VARCHAR(19),
    stato              VARCHAR(12) NOT NULL,
    nota_stato         VARCHAR(500),
    operatore          VARCHAR(80),
    aggiornata         VARCHAR(19) NOT NULL
);
CREATE INDEX idx_segnalazioni_in_aggiornata ON segnalazioni_in (aggiornata);
