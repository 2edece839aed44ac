-- Consorzio di cooperative sociali "Il Ponte": the consortium's shared
-- management system. Its member cooperatives, the people they serve and
-- the services delivered, and the offer they publish (catalogo).
CREATE TABLE cooperative (
    codice           TEXT PRIMARY KEY,
    ragione_sociale  TEXT NOT NULL,
    telefono         TEXT,
    email            TEXT,
    sito             TEXT
);
INSERT INTO cooperative VALUES
 ('GAB', 'Cooperativa sociale Il Gabbiano', '0372 500101', 'servizi@gabbiano.example.it', 'https://gabbiano.example.it'),
 ('RON', 'Cooperativa sociale La Rondine', '0373 500202', 'info@larondine.example.it', 'https://larondine.example.it'),
 ('GIR', 'Cooperativa sociale Girasole', '0375 500303', 'casalasco@girasole.example.it', NULL),
 ('TEL', 'Cooperativa sociale Tempo e Lavoro', '0374 500404', 'sportello@tempoelavoro.example.it', NULL);

CREATE TABLE anagrafica_utenti (
    cod_utente       INTEGER PRIMARY KEY,
    cod_fiscale      TEXT,
    cognome          TEXT NOT NULL,
    nome             TEXT NOT NULL,
    data_nascita     TEXT,            -- YYYYMMDD
    comune_nascita   TEXT,            -- Belfiore code
    sesso            TEXT,            -- M / F
    comune_residenza TEXT,            -- Belfiore code
    quartiere        TEXT,            -- district of residence
    modificato       TEXT NOT NULL    -- YYYY-MM-DD HH:MM:SS
);
CREATE INDEX utenti_cf ON anagrafica_utenti (cod_fiscale);
CREATE INDEX utenti_nascita ON anagrafica_utenti (data_nascita);

CREATE TABLE erogazioni (
    id_erogazione    INTEGER PRIMARY KEY,
    cod_utente       INTEGER NOT NULL REFERENCES anagrafica_utenti (cod_utente),
    cod_servizio     TEXT NOT NULL,
    tipo             TEXT NOT NULL,   -- DOM, PASTI, TRASP
    cooperativa      TEXT NOT NULL REFERENCES cooperative (codice),
    dal              TEXT,            -- YYYYMMDD
    al               TEXT,
    quota_utente_cent INTEGER,        -- what the family pays, euro cents
    codice_voucher   TEXT,
    valore_voucher_cent INTEGER,
    modificato       TEXT NOT NULL
);
CREATE INDEX erogazioni_utente ON erogazioni (cod_utente);

-- The offer: one row per service of a member cooperative.
CREATE TABLE catalogo (
    cod_servizio     TEXT PRIMARY KEY,
    cooperativa      TEXT NOT NULL REFERENCES cooperative (codice),
    denominazione    TEXT NOT NULL,
    descrizione      TEXT,
    categorie        TEXT,            -- ANZ, DIS, FAM, ALIM, LAV, SAL (comma-separated)
    comuni           TEXT,            -- Belfiore codes, comma-separated
    eta_min          INTEGER,
    eta_max          INTEGER,
    prezzo_cent      INTEGER,         -- what the family pays, euro cents
    unita            TEXT,            -- all'ora, a pasto, ...
    voucher          TEXT,            -- voucher schemes accepted
    soglia_isee_cent INTEGER,
    accreditato      TEXT,            -- S / N
    posti_liberi     INTEGER,
    in_attesa        INTEGER,
    stato            TEXT NOT NULL,   -- ATT, SOSP, CESS
    orario           TEXT,
    lingue           TEXT,
    come_accedere    TEXT,
    modificato       TEXT NOT NULL
);
INSERT INTO catalogo VALUES
 ('GAB-SAD', 'GAB', 'Assistenza domiciliare per anziani', 'Operatori socio-sanitari a casa: igiene personale, aiuto nei pasti, compagnia, piccole commissioni. Tariffa agevolata per i residenti.',
  'ANZ,DIS', 'D150,B129,G469,L806,I865,E843,A972,I935,I683,D841,I906,D993', 65, 0, 1850, 'all''ora', 'voucher-conciliazione', NULL, 'S', 6, 0, 'ATT', 'lun-sab 07:30-19:30', 'it,ro', 'Telefonata o visita allo sportello del consorzio', '2026-11-20 10:00:00'),
 ('GAB-NOTTE', 'GAB', 'Assistenza notturna a domicilio', 'Presenza notturna per anziani soli o dopo una dimissione ospedaliera.',
  'ANZ,SAL', 'D150', 0, 0, 2400, 'a notte', NULL, NULL, 'S', 2, 1, 'ATT', 'lun-dom 00:00-08:00 20:00-24:00', 'it', 'Colloquio con la coordinatrice', '2026-10-12 09:00:00'),
 ('GAB-PASTI', 'GAB', 'Pasti a domicilio', 'Pranzo caldo consegnato a casa, menu per diete particolari.',
  'ALIM,ANZ', 'D150,B129,G469,D993,I935', 0, 0, 750, 'a pasto', 'voucher-conciliazione', NULL, 'S', 20, 0, 'ATT', 'lun-sab 11:00-13:00', 'it', 'Prenotazione telefonica entro le 9 del giorno prima', '2026-11-02 08:30:00'),
 ('GAB-PASTI-RID', 'GAB', 'Pasti a prezzo ridotto', 'Pranzo al centro di via Dante per chi ha un ISEE basso, su invio dei servizi sociali o della Caritas.',
  'ALIM', 'D150', 0, 0, 350, 'a pasto', NULL, 1200000, 'S', 15, 0, 'ATT', 'lun-ven 12:00-14:00', 'it,ar,fr', 'Invio dei servizi sociali o del centro di ascolto', '2026-11-02 08:30:00'),
 ('GAB-BABY', 'GAB', 'Babysitting a domicilio', 'Educatrici qualificate per bambini da 0 a 12 anni, anche per poche ore e in orari serali.',
  'FAM', 'D150,D993,I935,G469', 0, 12, 1200, 'all''ora', 'voucher-conciliazione', NULL, 'S', 8, 0, 'ATT', 'lun-ven 07:00-21:00; sab 08:00-13:00', 'it,en', 'Modulo online o telefonata', '2026-11-18 15:00:00'),
 ('GAB-STIRO', 'GAB', 'Stireria sociale con ritiro e consegna', 'Stiratura a prezzo calmierato con ritiro e consegna a casa; vi lavorano persone in inserimento lavorativo.',
  'FAM,LAV', 'D150', 0, 0, 1500, 'a cesto', 'voucher-conciliazione', NULL, 'S', NULL, NULL, 'ATT', 'mar,gio 09:00-17:00', 'it', 'Telefonata per il primo ritiro', '2026-09-30 11:00:00'),
 ('GAB-PULIZIE', 'GAB', 'Pulizie domestiche', 'Pulizia della casa per famiglie con anziani o persone con disabilità, a tariffa agevolata.',
  'FAM,ANZ', 'D150,B129', 0, 0, 1700, 'all''ora', 'voucher-conciliazione', NULL, 'S', 4, 0, 'ATT', 'lun-ven 08:00-17:00', 'it,ro', 'Sopralluogo gratuito su appuntamento', '2026-10-21 09:00:00'),
 ('GAB-TRASP', 'GAB', 'Trasporto e accompagnamento', 'Accompagnamento con auto e pulmini attrezzati a visite, terapie e uffici.',
  'DIS,SAL', 'D150,B129,G469,L806,I865,E843,A972,I935,I683,D841,I906,D993,E217,G721,G483,B680,H372', 0, 0, 300, 'a corsa', NULL, NULL, 'S', NULL, NULL, 'ATT', 'lun-ven 07:00-19:00', 'it', 'Prenotazione telefonica tre giorni prima', '2026-11-10 08:00:00'),
 ('GAB-CDD', 'GAB', 'Centro diurno per persone con disabilità "Il Faro"', 'Attività educative, laboratori e cura per adulti con disabilità; retta in parte a carico del comune.',
  'DIS', 'D150,E843,A972', 18, 64, NULL, NULL, NULL, NULL, 'S', 0, 4, 'ATT', 'lun-ven 08:30-16:30', 'it', 'Progetto con l''assistente sociale del comune', '2026-10-05 08:00:00'),
 ('GAB-SPESA', 'GAB', 'Spesa e commissioni a domicilio', 'Un volontario o un operatore fa la spesa, ritira i farmaci e paga le bollette per chi non può uscire.',
  'ANZ,ALIM', 'D150', 65, 0, 500, 'a consegna', NULL, NULL, 'N', NULL, NULL, 'ATT', 'lun-ven 09:00-12:00', 'it', 'Telefonata', '2026-11-12 10:00:00'),
 ('GAB-CUSTODE', 'GAB', 'Custode sociale di quartiere', 'Un punto di riferimento nei quartieri di case popolari: ascolto, piccoli aiuti, segnalazione ai servizi.',
  'ANZ', 'D150', 0, 0, 0, 'gratuito', NULL, NULL, 'S', NULL, NULL, 'ATT', 'lun-ven 09:00-13:00', 'it', 'Basta passare in portineria sociale', '2026-08-01 09:00:00'),
 ('GAB-TELE', 'GAB', 'Telesoccorso', 'Un pulsante al collo collegato giorno e notte con la centrale operativa.',
  'ANZ,SAL', 'D150,B129,G469,L806,I865', 65, 0, 1500, 'al mese', NULL, NULL, 'S', NULL, NULL, 'ATT', 'lun-ven 09:00-12:00', 'it', 'Domanda con il modulo del consorzio', '2026-07-15 09:00:00'),
 ('RON-SAD', 'RON', 'Assistenza domiciliare nel Cremasco', 'Cura della persona e della casa per anziani e persone fragili del distretto di Crema.',
  'ANZ,DIS', 'D142,C153,G004,A570,H315,G306,H357', 65, 0, 1800, 'all''ora', 'voucher-conciliazione', NULL, 'S', 3, 2, 'ATT', 'lun-sab 07:00-19:00', 'it', 'Sportello di via Mazzini o telefonata', '2026-11-19 09:00:00'),
 ('RON-BABY', 'RON', 'Tata a domicilio', 'Babysitting per famiglie che lavorano, anche con bambini con disabilità.',
  'FAM', 'D142,C153,G004', 0, 12, 1150, 'all''ora', 'voucher-conciliazione', NULL, 'S', 5, 0, 'ATT', 'lun-ven 07:00-20:00', 'it,en,es', 'Modulo online', '2026-11-15 09:00:00'),
 ('RON-PREPOST', 'RON', 'Pre e post scuola', 'Accoglienza prima e dopo le lezioni nelle scuole primarie.',
  'FAM', 'D142', 6, 11, 4500, 'al mese', 'voucher-conciliazione', NULL, 'S', 12, 0, 'ATT', 'lun-ven 07:30-08:30; lun-ven 16:30-18:00', 'it', 'Iscrizione a settembre presso la scuola', '2026-09-01 09:00:00'),
 ('RON-CRE', 'RON', 'Centro ricreativo estivo', 'Giochi, laboratori e gite per bambini e ragazzi nelle settimane di chiusura delle scuole.',
  'FAM', 'D142,C153', 3, 14, 6000, 'a settimana', 'voucher-conciliazione', NULL, 'S', NULL, NULL, 'SOSP', 'lun-ven 08:00-17:00', 'it', 'Iscrizioni da maggio', '2026-09-10 09:00:00'),
 ('RON-DOPOSCUOLA', 'RON', 'Doposcuola e aiuto compiti', 'Aiuto nei compiti e attività per ragazzi delle medie, anche con disturbi dell''apprendimento.',
  'FAM', 'D142,G004', 6, 14, 3000, 'al mese', 'voucher-conciliazione', NULL, 'S', 7, 0, 'ATT', 'lun-ven 14:30-18:00', 'it,ar', 'Colloquio con l''educatore', '2026-10-01 09:00:00'),
 ('RON-STIRO', 'RON', 'Stireria "Ferro e Vapore"', 'Stireria solidale con consegna a domicilio.',
  'FAM,LAV', 'D142', 0, 0, 1400, 'a cesto', 'voucher-conciliazione', NULL, 'S', NULL, NULL, 'ATT', 'lun,mer,ven 08:30-12:30', 'it', 'Consegna in negozio o ritiro a casa', '2026-10-20 09:00:00'),
 ('RON-PASTI', 'RON', 'Pasti caldi a domicilio nel Cremasco', 'Consegna del pranzo a casa per anziani e persone in convalescenza.',
  'ALIM,ANZ', 'D142,C153,A570,H315', 0, 0, 700, 'a pasto', NULL, NULL, 'S', 10, 0, 'ATT', 'lun-sab 11:00-13:00', 'it', 'Telefonata', '2026-11-03 09:00:00'),
 ('RON-TRASP', 'RON', 'Trasporto per persone con disabilità', 'Pulmino attrezzato per centri diurni, scuole e terapie.',
  'DIS', 'D142,C153,G004,G306,H357', 0, 0, 250, 'a corsa', NULL, NULL, 'S', NULL, NULL, 'ATT', 'lun-ven 07:00-18:00', 'it', 'Prenotazione due giorni prima', '2026-10-28 09:00:00'),
 ('RON-BADANTI', 'RON', 'Sportello assistenti familiari', 'Aiuto a trovare e regolarizzare un''assistente familiare; corsi per badanti.',
  'FAM,LAV', 'D142,C153', 0, 0, 0, 'gratuito', NULL, NULL, 'S', NULL, NULL, 'ATT', 'mar,gio 09:00-12:30', 'it,ro,uk', 'Su appuntamento', '2026-11-05 09:00:00'),
 ('GIR-SAD', 'GIR', 'Assistenza domiciliare nel Casalasco', 'Aiuto a casa per anziani e persone non autosufficienti dei comuni del Casalasco.',
  'ANZ,DIS', 'B898,M418,H341,H918,L258', 65, 0, 1700, 'all''ora', 'voucher-conciliazione', NULL, 'S', 4, 0, 'ATT', 'lun-sab 07:30-19:00', 'it', 'Sportello di Casalmaggiore', '2026-11-11 09:00:00'),
 ('GIR-PASTI', 'GIR', 'Pasti a domicilio nel Casalasco', 'Pranzo caldo a casa, anche nei giorni festivi.',
  'ALIM,ANZ', 'B898,M418', 0, 0, 680, 'a pasto', NULL, NULL, 'S', 9, 0, 'ATT', 'lun-dom 11:30-13:00', 'it', 'Telefonata', '2026-10-30 09:00:00'),
 ('GIR-TRASP', 'GIR', 'Trasporto sociale Casalasco', 'Accompagnamento a visite e terapie negli ospedali di Cremona e Casalmaggiore.',
  'DIS,SAL', 'B898,M418,H341,H918,L258', 0, 0, 350, 'a corsa', NULL, NULL, 'S', NULL, NULL, 'ATT', 'lun-ven 07:00-18:00', 'it', 'Prenotazione telefonica', '2026-10-30 09:00:00'),
 ('GIR-BABY', 'GIR', 'Babysitting Casalasco', 'Baby sitter formate per le famiglie del Casalasco.',
  'FAM', 'B898,M418', 0, 10, 1100, 'all''ora', 'voucher-conciliazione', NULL, 'S', 3, 0, 'ATT', 'lun-sab 07:00-20:00', 'it', 'Telefonata', '2026-11-01 09:00:00'),
 ('GIR-ALZ', 'GIR', 'Caffè Alzheimer', 'Incontri per persone con demenza e i loro familiari, con una psicologa.',
  'SAL,ANZ', 'B898', 0, 0, 0, 'gratuito', NULL, NULL, 'N', NULL, NULL, 'ATT', 'mer 15:00-17:00', 'it', 'Basta presentarsi', '2026-09-15 09:00:00'),
 ('TEL-PULIZIE', 'TEL', 'Pulizie e riordino della casa', 'Pulizie domestiche a tariffa agevolata per famiglie con carichi di cura.',
  'FAM', 'I849,B869,A299,D966', 0, 0, 1600, 'all''ora', 'voucher-conciliazione', NULL, 'S', 5, 0, 'ATT', 'lun-ven 08:00-18:00', 'it,ro', 'Telefonata', '2026-11-14 09:00:00'),
 ('TEL-STIRO', 'TEL', 'Stiro a domicilio', 'Un''operatrice stira a casa vostra, una o più ore a settimana.',
  'FAM', 'I849,B869', 0, 0, 1300, 'all''ora', 'voucher-conciliazione', NULL, 'S', NULL, NULL, 'ATT', 'lun-ven 08:00-18:00', 'it', 'Telefonata', '2026-11-14 09:00:00'),
 ('TEL-LAB', 'TEL', 'Laboratorio di inserimento lavorativo', 'Tirocini e lavoro protetto in assemblaggio e manutenzione del verde per persone con disabilità o in difficoltà.',
  'LAV,DIS', 'I849,D150', 18, 60, 0, 'gratuito', NULL, NULL, 'S', 2, 6, 'ATT', 'lun-ven 08:00-16:00', 'it', 'Invio dei servizi sociali o del centro per l''impiego', '2026-10-09 09:00:00'),
 ('TEL-ORTI', 'TEL', 'Orti sociali', 'Un orto da coltivare insieme per anziani soli e persone in percorso di inclusione.',
  'ANZ,LAV', 'I849', 0, 0, 0, 'gratuito', NULL, NULL, 'N', 11, 0, 'ATT', 'mar,ven 09:00-12:00', 'it', 'Iscrizione in cooperativa', '2026-06-01 09:00:00'),
 ('TEL-LAVANDERIA', 'TEL', 'Lavanderia sociale', 'Servizio cessato: sostituito dalla stireria a domicilio.',
  'FAM', 'I849', 0, 0, 900, 'a cesto', NULL, NULL, 'N', NULL, NULL, 'CESS', NULL, 'it', NULL, '2026-05-31 09:00:00');

-- Requests for a service sent through Trama by the comune's social services
-- or the listening centre: the connector writes each once, keyed by Trama's
-- id; the consortium's coordinators then take them up in the management
-- system, which updates the status the sender follows.
CREATE TABLE richieste_in (
    id_trama         TEXT PRIMARY KEY,
    ente             TEXT NOT NULL,
    operatore_ente   TEXT,
    servizio         TEXT,            -- the catalogue's cod_servizio asked for
    priorita         TEXT NOT NULL,
    cod_fiscale      TEXT,
    cognome          TEXT,
    nome             TEXT,
    data_nascita     TEXT,
    comune_nascita   TEXT,
    motivi           TEXT NOT NULL,
    messaggio        TEXT,
    finalita         TEXT,
    pratica_ente     TEXT,
    ricevuta         TEXT NOT NULL,
    entro            TEXT,
    stato            TEXT NOT NULL,   -- RICEVUTA, ACCOLTA, RESPINTA, ATTIVA, CONCLUSA, NON_ATTIVATA, ANNULLATA
    nota             TEXT,
    coordinatore     TEXT,
    modificata       TEXT NOT NULL    -- YYYY-MM-DD HH:MM:SS (UTC)
);
CREATE INDEX richieste_in_modificata ON richieste_in (modificata);

