-- Health authority (ASL): the registry of the social-health services, as
-- an older hospital-style system stores it: upper-case names, dates as
-- YYYYMMDD text, sex as 1/2.
CREATE TABLE ANAG_PAZIENTI (
    PAZ_ID           INTEGER PRIMARY KEY,
    PAZ_CF           TEXT,
    PAZ_COGNOME      TEXT NOT NULL,
    PAZ_NOME         TEXT NOT NULL,
    PAZ_DT_NASC      TEXT,            -- YYYYMMDD
    PAZ_COD_CAT_NASC TEXT,
    PAZ_SESSO        TEXT,            -- 1 maschio, 2 femmina
    DT_ULT_MOD       TEXT NOT NULL
);
CREATE INDEX IX_PAZ_CF ON ANAG_PAZIENTI (PAZ_CF);
CREATE INDEX IX_PAZ_DT_NASC ON ANAG_PAZIENTI (PAZ_DT_NASC);
CREATE INDEX IX_PAZ_COGNOME ON ANAG_PAZIENTI (PAZ_COGNOME);

CREATE TABLE INVALIDITA (
    INV_ID           INTEGER PRIMARY KEY,
    PAZ_ID           INTEGER NOT NULL REFERENCES ANAG_PAZIENTI (PAZ_ID),
    INV_TIPO         TEXT,            -- IC, H3C1, H3C3, CIEC, SORD
    INV_PERC         INTEGER,
    INV_DT_RIC       TEXT,
    INV_DT_REV       TEXT,
    DT_ULT_MOD       TEXT NOT NULL
);
CREATE INDEX IX_INV_PAZ ON INVALIDITA (PAZ_ID);

CREATE TABLE PIANI_CURA (
    PC_ID            INTEGER PRIMARY KEY,
    PAZ_ID           INTEGER NOT NULL REFERENCES ANAG_PAZIENTI (PAZ_ID),
    PC_TIPO          TEXT,            -- PAI, ADI, PSI, DIP
    PC_EQUIPE        TEXT,
    PC_DT_INIZIO     TEXT,
    PC_DT_FINE       TEXT,
    DT_ULT_MOD       TEXT NOT NULL
);
CREATE INDEX IX_PC_PAZ ON PIANI_CURA (PAZ_ID);

CREATE TABLE SEGNALAZIONI (
    SEG_ID           INTEGER PRIMARY KEY,
    PAZ_ID           INTEGER NOT NULL REFERENCES ANAG_PAZIENTI (PAZ_ID),
    SEG_SERVIZIO     TEXT,            -- SERD, NOA, CPS, CONS
    SEG_DATA         TEXT,
    SEG_MOTIVO       TEXT,            -- DIP, ALC, PSI, FAM
    SEG_STATO        TEXT,            -- R ricevuta, A accolta, C chiusa
    DT_ULT_MOD       TEXT NOT NULL
);
CREATE INDEX IX_SEG_PAZ ON SEGNALAZIONI (PAZ_ID);
