-- Health authority (ASL) registry on MySQL/MariaDB: the same legacy schema
-- as schema.sqlite.sql. Dates stay YYYYMMDD text, as the old system wrote
-- them.
CREATE TABLE ANAG_PAZIENTI (
    PAZ_ID           INT PRIMARY KEY,
    PAZ_CF           CHAR(16),
    PAZ_COGNOME      VARCHAR(80) NOT NULL,
    PAZ_NOME         VARCHAR(80) NOT NULL,
    PAZ_DT_NASC      CHAR(8),
    PAZ_COD_CAT_NASC CHAR(4),
    PAZ_SESSO        CHAR(1),          -- 1 maschio, 2 femmina
    PAZ_QUARTIERE    VARCHAR(80),      -- quartiere di residenza
    DT_ULT_MOD       DATETIME NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE INVALIDITA (
    INV_ID           INT PRIMARY KEY,
    PAZ_ID           INT NOT NULL,
    INV_TIPO         VARCHAR(4),       -- IC, H3C1, H3C3, CIEC, SORD
    INV_PERC         TINYINT UNSIGNED,
    INV_DT_RIC       CHAR(8),
    INV_DT_REV       CHAR(8),
    DT_ULT_MOD       DATETIME NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE PIANI_CURA (
    PC_ID            INT PRIMARY KEY,
    PAZ_ID           INT NOT NULL,
    PC_TIPO          VARCHAR(4),       -- PAI, ADI, PSI, DIP
    PC_EQUIPE        VARCHAR(80),
    PC_DT_INIZIO     CHAR(8),
    PC_DT_FINE       CHAR(8),
    DT_ULT_MOD       DATETIME NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE SEGNALAZIONI (
    SEG_ID           INT PRIMARY KEY,
    PAZ_ID           INT NOT NULL,
    SEG_SERVIZIO     VARCHAR(4),       -- SERD, NOA, CPS, CONS
    SEG_DATA         CHAR(8),
    SEG_MOTIVO       VARCHAR(4),       -- DIP, ALC, PSI, FAM
    SEG_STATO        CHAR(1),          -- R ricevuta, A accolta, C chiusa
    DT_ULT_MOD       DATETIME NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
