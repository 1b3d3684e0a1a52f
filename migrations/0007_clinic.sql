-- Clinic patient queue (docs/rules/clinic.md): clinics, services, rooms, staff and their invitations, per-day ticket
-- counters, tickets, attendance steps (one per step of a patient's route) and the calls a TV shows.
-- depends: 0006_auctions

CREATE TABLE clinics (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    -- An IANA zone; the day of a ticket and the dates of the statistics are read in it.
    timezone   text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE services (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id   bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Ticket codes are PREFIX-NNN; a prefix names one service of a clinic.
    prefix      text NOT NULL CHECK (prefix ~ '^[A-Z]{1,3}$'),
    active      boolean NOT NULL DEFAULT true,
    -- 'priority' = preferential and emergency.
    accepts     text NOT NULL DEFAULT 'all' CHECK (accepts IN ('all', 'normal', 'priority')),
    max_per_day integer CHECK (max_per_day BETWEEN 1 AND 999),
    route_text  text NOT NULL DEFAULT '' CHECK (length(route_text) <= 200),
    direction   text NOT NULL DEFAULT 'straight' CHECK (direction IN ('left', 'right', 'straight', 'up', 'down')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, prefix),
    UNIQUE (clinic_id, id)
);

CREATE TABLE rooms (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id   bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    occupied_by uuid REFERENCES users (id) ON DELETE SET NULL,
    occupied_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, name),
    UNIQUE (clinic_id, id)
);
-- One room per person per clinic at a time; also the lookup "which room does the caller hold".
CREATE UNIQUE INDEX rooms_occupant_key ON rooms (occupied_by, clinic_id) WHERE occupied_by IS NOT NULL;

CREATE TABLE staff (
    clinic_id  bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    is_admin   boolean NOT NULL DEFAULT false,
    specialty  text CHECK (length(specialty) <= 100),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clinic_id, user_id)
);
CREATE INDEX staff_user_id_idx ON staff (user_id);

CREATE TABLE staff_services (
    clinic_id  bigint NOT NULL,
    user_id    uuid NOT NULL,
    service_id bigint NOT NULL,
    PRIMARY KEY (clinic_id, user_id, service_id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES staff (clinic_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (clinic_id, service_id) REFERENCES services (clinic_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_services_service_idx ON staff_services (service_id);

-- Invitations to join a clinic's staff: the activation code is stored as an HMAC (app.security.code_hash),
-- works once, expires, and burns after a few wrong tries.
CREATE TABLE staff_invitations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id   bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name        text CHECK (length(name) <= 100),
    is_admin    boolean NOT NULL DEFAULT false,
    service_ids bigint[] NOT NULL DEFAULT '{}',
    code_hash   bytea NOT NULL,
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    expires_at  timestamptz NOT NULL,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_count  integer NOT NULL DEFAULT 1,
    accepted_at timestamptz,
    revoked_at  timestamptz
);
-- At most one pending invitation per person and clinic (an invitation again renews it).
CREATE UNIQUE INDEX staff_invitations_pending_key ON staff_invitations (clinic_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX staff_invitations_email_idx ON staff_invitations (lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- Numbering restarts every day (in the clinic's time zone) per service; one row per service and day, bumped
-- with INSERT ... ON CONFLICT DO UPDATE so concurrent kiosks get consecutive numbers.
CREATE TABLE ticket_counters (
    clinic_id   bigint NOT NULL,
    service_id  bigint NOT NULL,
    day         date NOT NULL,
    last_number integer NOT NULL CHECK (last_number BETWEEN 1 AND 999),
    PRIMARY KEY (service_id, day),
    FOREIGN KEY (clinic_id, service_id) REFERENCES services (clinic_id, id) ON DELETE CASCADE
);

CREATE TABLE tickets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What the patient holds for lookups: random, never a counter.
    public_token text NOT NULL UNIQUE CHECK (length(public_token) >= 22),
    clinic_id    bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    service_id   bigint NOT NULL,
    code         text NOT NULL,
    number       integer NOT NULL,
    day          date NOT NULL,
    priority     text NOT NULL CHECK (priority IN ('normal', 'preferential', 'emergency')),
    patient_name text CHECK (length(patient_name) <= 100),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    origin       text NOT NULL CHECK (origin IN ('totem', 'reception', 'online')),
    issued_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    FOREIGN KEY (clinic_id, service_id) REFERENCES services (clinic_id, id),
    UNIQUE (service_id, day, number)
);
CREATE INDEX tickets_clinic_day_idx ON tickets (clinic_id, day);

-- One row per step of a patient's route; forwarding closes a step and opens the next with the same code.
CREATE TABLE attendances (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id           bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    clinic_id           bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    service_id          bigint NOT NULL,
    parent_id           bigint REFERENCES attendances (id) ON DELETE SET NULL,
    status              text NOT NULL DEFAULT 'waiting'
                        CHECK (status IN ('waiting', 'called', 'in_service', 'no_show', 'done', 'forwarded',
                                          'cancelled')),
    -- Queue order: 3 emergency, 2 preferential, 1 normal (the ticket's priority, copied for the index).
    priority_rank       smallint NOT NULL CHECK (priority_rank BETWEEN 1 AND 3),
    -- A step forwarded to a given attendant is offered only to that attendant.
    target_attendant_id uuid REFERENCES users (id) ON DELETE SET NULL,
    attendant_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    room_id             bigint REFERENCES rooms (id) ON DELETE SET NULL,
    arrived_at          timestamptz NOT NULL DEFAULT now(),  -- the step began (issue or forward)
    queued_at           timestamptz NOT NULL DEFAULT now(),  -- its place in line (reset by reactivate)
    called_at           timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    notes               text CHECK (length(notes) <= 2000),
    FOREIGN KEY (clinic_id, service_id) REFERENCES services (clinic_id, id)
);
CREATE INDEX attendances_queue_idx ON attendances (clinic_id, service_id, priority_rank DESC, queued_at, id)
    WHERE status = 'waiting';
CREATE INDEX attendances_ticket_idx ON attendances (ticket_id, id);
-- An attendant holds at most one called or in-service step per clinic.
CREATE UNIQUE INDEX attendances_held_key ON attendances (clinic_id, attendant_id)
    WHERE status IN ('called', 'in_service');
CREATE INDEX attendances_attendant_idx ON attendances (attendant_id, called_at) WHERE attendant_id IS NOT NULL;

-- What the TV shows: each call and recall, with the topic seq of its display event.
CREATE TABLE calls (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_id     bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
    attendance_id bigint NOT NULL REFERENCES attendances (id) ON DELETE CASCADE,
    service_id    bigint NOT NULL,
    code          text NOT NULL,
    room          text NOT NULL,
    service       text NOT NULL,
    route_text    text NOT NULL,
    direction     text NOT NULL,
    priority      text NOT NULL,
    recall        boolean NOT NULL DEFAULT false,
    seq           bigint NOT NULL,
    called_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_clinic_idx ON calls (clinic_id, id DESC);
CREATE INDEX calls_clinic_service_idx ON calls (clinic_id, service_id, id DESC);
CREATE INDEX calls_attendance_idx ON calls (attendance_id);
