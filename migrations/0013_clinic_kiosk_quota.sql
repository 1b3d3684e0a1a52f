-- Kiosks and the daily quota (docs/rules/clinic.md; issue 11, finding 6): the clinic's registered kiosks, and the
-- count of the day's tickets taken by anonymous web clients, who draw from a share of the quota of their own.
-- depends: 0012_realtime_rights

-- A kiosk a clinic admin registered: its browser holds the token (a cookie); only its SHA-256 is stored.
CREATE TABLE clinic_kiosks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id    bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]'),
    token_hash   bytea NOT NULL UNIQUE,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX clinic_kiosks_clinic_idx ON clinic_kiosks (clinic_id, id);

-- Tickets of the day taken by anonymous web clients (origin 'online'), counted under the counter row's lock.
-- Every existing row gets 0, which the rule holds for; it is still added NOT VALID and then validated, as the
-- project does for every rule on existing rows.
ALTER TABLE ticket_counters ADD COLUMN web_issued integer NOT NULL DEFAULT 0;
ALTER TABLE ticket_counters
    ADD CONSTRAINT ticket_counters_web_issued_check CHECK (web_issued BETWEEN 0 AND last_number) NOT VALID;
ALTER TABLE ticket_counters VALIDATE CONSTRAINT ticket_counters_web_issued_check;
