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
