-- Indexes the comune mapping relies on (the connector refuses to start if a
-- query would scan a whole table). Created after loading, as a partner's
-- DBA would add them.
CREATE INDEX IF NOT EXISTS idx_assistiti_cf ON assistiti (codice_fiscale);
CREATE INDEX IF NOT EXISTS idx_assistiti_nascita ON assistiti (data_nascita);
CREATE INDEX IF NOT EXISTS idx_assistiti_cognome_nascita ON assistiti (upper(cognome), data_nascita);
CREATE INDEX IF NOT EXISTS idx_assistiti_cognome_nome ON assistiti (upper(cognome), upper(nome));
CREATE INDEX IF NOT EXISTS idx_abitazioni_assistito ON abitazioni (id_assistito);
CREATE INDEX IF NOT EXISTS idx_nuclei_assistito ON nuclei (id_assistito);
CREATE INDEX IF NOT EXISTS idx_bisogni_assistito ON bisogni (id_assistito);
CREATE INDEX IF NOT EXISTS idx_rete_assistito ON rete_sostegno (id_assistito);
CREATE INDEX IF NOT EXISTS idx_interventi_assistito ON interventi (id_assistito);
CREATE INDEX IF NOT EXISTS idx_cartelle_assistito ON cartelle (id_assistito);
CREATE INDEX IF NOT EXISTS idx_provv_assistito ON provvedimenti_ag (id_assistito);
ANALYZE;
