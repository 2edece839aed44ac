-- Cartella sociale del Comune: the municipality's social record, as its
-- case-management software stores it (Italian names, local codes).
CREATE TABLE assistiti (
    id_assistito     INTEGER PRIMARY KEY,
    codice_fiscale   TEXT,
    cognome          TEXT NOT NULL,
    nome             TEXT NOT NULL,
    data_nascita     TEXT,            -- YYYY-MM-DD
    comune_nascita   TEXT,            -- codice catastale (Belfiore)
    sesso            TEXT,            -- M / F
    quartiere        TEXT,
    indirizzo        TEXT,
    dt_agg           TEXT NOT NULL    -- YYYY-MM-DD HH:MM:SS
);
CREATE INDEX idx_assistiti_cf ON assistiti (codice_fiscale);
CREATE INDEX idx_assistiti_nascita ON assistiti (data_nascita);
CREATE INDEX idx_assistiti_cognome_nascita ON assistiti (upper(cognome), data_nascita);
CREATE INDEX idx_assistiti_cognome_nome ON assistiti (upper(cognome), upper(nome));
CREATE INDEX idx_assistiti_nome_cognome ON assistiti (upper(nome), upper(cognome));

CREATE TABLE abitazioni (
    id_abitazione    INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    titolo_godimento TEXT,            -- PROP, AFF_PRIV, ERP, OSPITE, DORM, SFD
    condizione       TEXT,            -- ADEG, SOVRAFF, INAG, SFRATTO
    dal              TEXT,
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_abitazioni_assistito ON abitazioni (id_assistito);

CREATE TABLE nuclei (
    id_nucleo        INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    n_componenti     INTEGER,
    n_minori         INTEGER,
    tipo_nucleo      TEXT,            -- UNIP, COPPIA, COPPIA_FIGLI, MONOGEN, ESTESO
    condizione_lav   TEXT,            -- OCC, DISOCC, PENS, STUD, INATT, INAB
    fascia_reddito   TEXT,            -- F0, F1, F2, F3, F4
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_nuclei_assistito ON nuclei (id_assistito);

CREATE TABLE bisogni (
    id_bisogno       INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    area             TEXT,            -- ABIT, ALIM, REDD, LAV, SAL, DIP, PSI, DIS, FAM, SOLIT, LEG, DEB, UTEN
    gravita          INTEGER,         -- 1 lieve, 2 media, 3 grave
    data_rilevazione TEXT,
    aperto           TEXT,            -- S / N
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_bisogni_assistito ON bisogni (id_assistito);

CREATE TABLE rete_sostegno (
    id_risorsa       INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    tipo             TEXT,            -- PAR, VIC, VOL, PARR, ASS, AMI
    descrizione      TEXT,
    attiva           INTEGER,
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_rete_assistito ON rete_sostegno (id_assistito);

CREATE TABLE interventi (
    id_intervento    INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    tipo_intervento  TEXT,            -- CONTR_ECO, SAD, PASTI, SOST_ABIT, TRASP, EDU
    ente_erogatore   TEXT,
    data_inizio      TEXT,
    data_fine        TEXT,
    importo          REAL,            -- euro
    codice_voucher   TEXT,
    valore_voucher   REAL,
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_interventi_assistito ON interventi (id_assistito);

CREATE TABLE cartelle (
    id_cartella      TEXT PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    servizio         TEXT,
    assistente_sociale TEXT,
    data_apertura    TEXT,
    stato            TEXT,            -- APERTA, SOSPESA, CHIUSA
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_cartelle_assistito ON cartelle (id_assistito);

CREATE TABLE provvedimenti_ag (
    id_provv         INTEGER PRIMARY KEY,
    id_assistito     INTEGER NOT NULL REFERENCES assistiti (id_assistito),
    tipo             TEXT,            -- ADS, TUT, CUR, TM
    tribunale        TEXT,
    dal              TEXT,
    al               TEXT,
    tutore           TEXT,
    dt_agg           TEXT NOT NULL
);
CREATE INDEX idx_provv_assistito ON provvedimenti_ag (id_assistito);

-- The services the comune offers, published to the federation's catalogue.
CREATE TABLE servizi (
    codice           TEXT PRIMARY KEY,
    titolo           TEXT NOT NULL,
    descrizione      TEXT,
    aree             TEXT,            -- area codes, comma-separated
    comuni           TEXT,            -- Belfiore codes, comma-separated
    eta_min          INTEGER,
    eta_max          INTEGER,
    tariffa          REAL,            -- euro
    nota_tariffa     TEXT,
    buoni            TEXT,            -- voucher schemes accepted
    soglia_isee      REAL,            -- euro
    accreditato      INTEGER,
    orari            TEXT,
    telefono         TEXT,
    modalita         TEXT,            -- how to apply
    aggiornato       TEXT NOT NULL    -- YYYY-MM-DD HH:MM:SS
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

-- Segnalazioni in arrivo: referrals from other services, written by the
-- Trama connector (one row per referral, keyed by Trama's id) and worked on
-- by the social services' own software, which changes `stato`, `nota_stato`,
-- `operatore` and `aggiornata`. Times are UTC, YYYY-MM-DD HH:MM:SS.
CREATE TABLE segnalazioni_in (
    id_trama           TEXT PRIMARY KEY,
    ente_inviante      TEXT NOT NULL,
    operatore_inviante TEXT,
    servizio           TEXT,
    urgenza            TEXT NOT NULL,
    codice_fiscale     TEXT,
    cognome            TEXT,
    nome               TEXT,
    data_nascita       TEXT,
    comune_nascita     TEXT,
    motivi             TEXT NOT NULL,
    messaggio          TEXT,
    finalita           TEXT,
    pratica_inviante   TEXT,
    ricevuta           TEXT NOT NULL,
    entro              TEXT,
    stato              TEXT NOT NULL,   -- NUOVA, PRESA, RIFIUTATA, IN_CORSO, CHIUSA, NON_RIUSCITA, ANNULLATA
    nota_stato         TEXT,
    operatore          TEXT,
    aggiornata         TEXT NOT NULL
);
CREATE INDEX idx_segnalazioni_in_aggiornata ON segnalazioni_in (aggiornata);
