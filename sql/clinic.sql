-- Clinic queue (docs/rules/clinic.md). Every row belongs to a clinic; every status change is a conditional UPDATE
-- that says by returning nothing that the step was not in a status the action starts from.
-- Priority ranks in queue order: 3 emergency, 2 preferential, 1 normal.
-- A step is one stop of a ticket's route, a row of `attendances` (the table and the URL's name for it).

-- Clinics and who may do what ---------------------------------------------------------------------------------

-- name: create_clinic
-- A new clinic; returns nothing when the slug is taken.
INSERT INTO clinics (name, slug, timezone)
VALUES (:name, :slug, :timezone)
ON CONFLICT (slug) DO NOTHING
RETURNING id, name, slug, timezone, active, created_at;

-- name: clinic_by_slug
SELECT id, name, slug, timezone, active, created_at FROM clinics WHERE slug = :slug;

-- name: clinic_view
SELECT id, name, slug, timezone, active, created_at FROM clinics WHERE id = :clinic_id;

-- name: caller_access
-- The caller's rights in one clinic: a row only when the clinic exists; staff and admin are false for anyone
-- without an active staff row there.
SELECT c.id AS clinic_id, c.timezone,
       s.user_id IS NOT NULL AS is_staff,
       COALESCE(s.is_admin, false) AS is_admin
FROM clinics c
LEFT JOIN staff s ON s.clinic_id = c.id AND s.user_id = :user_id::uuid AND s.active
WHERE c.id = :clinic_id;

-- Services ------------------------------------------------------------------------------------------------------

-- name: active_services
-- The kiosk's list: the clinic's active services (cached in every process, see app/clinic/cache.py).
SELECT s.id, s.name, s.prefix, s.active, s.accepts, s.max_per_day, s.route_text, s.direction
FROM services s
JOIN clinics c ON c.id = s.clinic_id AND c.active
WHERE s.clinic_id = :clinic_id AND s.active
ORDER BY s.name, s.id;

-- name: list_services
-- Management: every service of the clinic, active or not, by id; keyset-paginated, fetches :limit + 1.
SELECT id, name, prefix, active, accepts, max_per_day, route_text, direction
FROM services
WHERE clinic_id = :clinic_id AND id > :after_id
ORDER BY id
LIMIT :limit + 1;

-- name: service_view
SELECT id, name, prefix, active, accepts, max_per_day, route_text, direction
FROM services
WHERE clinic_id = :clinic_id AND id = :service_id;

-- name: create_service
-- Returns nothing when another service of the clinic has this prefix.
INSERT INTO services (clinic_id, name, prefix, active, accepts, max_per_day, route_text, direction)
VALUES (:clinic_id, :name, :prefix, :active, :accepts, :max_per_day::integer, :route_text, :direction)
ON CONFLICT (clinic_id, prefix) DO NOTHING
RETURNING id, name, prefix, active, accepts, max_per_day, route_text, direction;

-- name: update_service
-- A NULL parameter keeps the current value; max_per_day changes only when :set_max_per_day (NULL = no cap).
-- Returns nothing when the service is not the clinic's or the new prefix is another service's.
UPDATE services s
SET name = COALESCE(:name, s.name),
    prefix = COALESCE(:prefix, s.prefix),
    active = COALESCE(:active::boolean, s.active),
    accepts = COALESCE(:accepts, s.accepts),
    max_per_day = CASE WHEN :set_max_per_day::boolean THEN :max_per_day::integer ELSE s.max_per_day END,
    route_text = COALESCE(:route_text, s.route_text),
    direction = COALESCE(:direction, s.direction)
WHERE s.clinic_id = :clinic_id AND s.id = :service_id
  AND NOT EXISTS (SELECT 1 FROM services o
                  WHERE o.clinic_id = s.clinic_id AND o.prefix = :prefix AND o.id <> s.id)
RETURNING id, name, prefix, active, accepts, max_per_day, route_text, direction;

-- name: unknown_service_ids
-- Which of :service_ids are not services of the clinic (a 400 on the field that named them).
SELECT ARRAY(SELECT x FROM unnest(:service_ids::bigint[]) AS x
             WHERE NOT EXISTS (SELECT 1 FROM services s WHERE s.clinic_id = :clinic_id AND s.id = x)
             ORDER BY x) AS unknown;

-- name: active_service_ids
-- The clinic's active services: what "call next" offers to a desk whose attendant has none assigned.
SELECT ARRAY(SELECT id FROM services WHERE clinic_id = :clinic_id AND active ORDER BY id) AS ids;

-- Rooms ---------------------------------------------------------------------------------------------------------

-- name: list_rooms
-- Keyset-paginated by id; fetches :limit + 1.
SELECT r.id, r.name, r.route_text, r.direction, r.occupied_by, u.name AS occupied_by_name, r.occupied_at
FROM rooms r
LEFT JOIN users u ON u.id = r.occupied_by
WHERE r.clinic_id = :clinic_id AND r.id > :after_id
ORDER BY r.id
LIMIT :limit + 1;

-- name: room_view
SELECT r.id, r.name, r.route_text, r.direction, r.occupied_by, u.name AS occupied_by_name, r.occupied_at
FROM rooms r
LEFT JOIN users u ON u.id = r.occupied_by
WHERE r.clinic_id = :clinic_id AND r.id = :room_id;

-- name: create_room
-- Returns nothing when the clinic already has a room with this name.
INSERT INTO rooms (clinic_id, name, route_text, direction) VALUES (:clinic_id, :name, :route_text, :direction)
ON CONFLICT (clinic_id, name) DO NOTHING
RETURNING id;

-- name: update_room
-- Returns nothing when the room is not the clinic's or another room has the name. A NULL :name keeps the name;
-- the route (route_text and direction together) changes only when :set_route, to NULL meaning "the service's".
UPDATE rooms r
SET name = COALESCE(:name, r.name),
    route_text = CASE WHEN :set_route THEN :route_text ELSE r.route_text END,
    direction = CASE WHEN :set_route THEN :direction ELSE r.direction END
WHERE r.clinic_id = :clinic_id AND r.id = :room_id
  AND NOT EXISTS (SELECT 1 FROM rooms o WHERE o.clinic_id = r.clinic_id AND o.name = :name AND o.id <> r.id)
RETURNING id;

-- name: release_other_rooms
-- Taking a room gives up any other room the caller holds in the clinic.
UPDATE rooms SET occupied_by = NULL, occupied_at = NULL
WHERE clinic_id = :clinic_id AND occupied_by = :user_id AND id <> :room_id;

-- name: take_room
-- Occupies a free room (or one the caller already holds); nothing when someone else is in it.
UPDATE rooms SET occupied_by = :user_id, occupied_at = COALESCE(occupied_at, now())
WHERE clinic_id = :clinic_id AND id = :room_id AND (occupied_by IS NULL OR occupied_by = :user_id)
RETURNING id;

-- name: leave_room
-- Frees a room held by the caller, or by anyone when :is_admin; nothing otherwise.
UPDATE rooms SET occupied_by = NULL, occupied_at = NULL
WHERE clinic_id = :clinic_id AND id = :room_id
  AND (occupied_by IS NULL OR occupied_by = :user_id OR :is_admin::boolean)
RETURNING id;

-- name: free_rooms_of_user
-- The user's sessions ended (every clinic: :clinic_id NULL) or they left one clinic's staff: the rooms they
-- hold are free. Waits for a desk action in progress (room_of_user locks the room), so a ticket that action
-- called is seen by requeue_called_steps_of_user, run next.
UPDATE rooms SET occupied_by = NULL, occupied_at = NULL
WHERE occupied_by = :user_id AND (:clinic_id::bigint IS NULL OR clinic_id = :clinic_id::bigint)
RETURNING id, clinic_id;

-- name: requeue_called_steps_of_user
-- With free_rooms_of_user: a step the user called but did not start goes back to waiting, at its old place in
-- the line (queued_at is kept: the patient did nothing wrong). Its calls stay in the TV's history.
UPDATE attendances
SET status = 'waiting', attendant_id = NULL, room_id = NULL, called_at = NULL
WHERE attendant_id = :user_id AND status = 'called'
  AND (:clinic_id::bigint IS NULL OR clinic_id = :clinic_id::bigint)
RETURNING id, clinic_id, service_id;

-- name: untarget_steps_of_user
-- The user left the clinic's staff (:clinic_id) or the account was closed (every clinic: NULL): steps forwarded
-- to them by name would wait for nobody, so they go back to the service's common line, at their old place.
UPDATE attendances
SET target_attendant_id = NULL
WHERE target_attendant_id = :user_id AND status = 'waiting'
  AND (:clinic_id::bigint IS NULL OR clinic_id = :clinic_id::bigint)
RETURNING id, clinic_id, service_id;

-- name: room_of_user
-- The room the caller holds in the clinic, locked: this serializes one attendant's desk actions (call next,
-- call), so an attendant never ends up holding two steps.
SELECT id, name FROM rooms WHERE clinic_id = :clinic_id AND occupied_by = :user_id
FOR UPDATE;

-- Staff ---------------------------------------------------------------------------------------------------------

-- name: list_staff
-- Keyset-paginated on user_id; fetches :limit + 1.
SELECT s.user_id, u.name, u.email, s.is_admin, s.specialty, s.active,
       ARRAY(SELECT ss.service_id FROM staff_services ss
             WHERE ss.clinic_id = s.clinic_id AND ss.user_id = s.user_id ORDER BY 1) AS service_ids
FROM staff s
JOIN users u ON u.id = s.user_id
WHERE s.clinic_id = :clinic_id
  AND (:after_user_id::uuid IS NULL OR s.user_id > :after_user_id::uuid)
ORDER BY s.user_id
LIMIT :limit + 1;

-- name: staff_view
SELECT s.user_id, u.name, u.email, s.is_admin, s.specialty, s.active,
       ARRAY(SELECT ss.service_id FROM staff_services ss
             WHERE ss.clinic_id = s.clinic_id AND ss.user_id = s.user_id ORDER BY 1) AS service_ids
FROM staff s
JOIN users u ON u.id = s.user_id
WHERE s.clinic_id = :clinic_id AND s.user_id = :user_id;

-- name: add_staff
-- Adds a person to the clinic's staff (again active if they had left); an admin stays admin.
INSERT INTO staff AS s (clinic_id, user_id, is_admin, specialty)
VALUES (:clinic_id, :user_id, :is_admin, :specialty)
ON CONFLICT (clinic_id, user_id) DO UPDATE
SET active = true,
    is_admin = s.is_admin OR EXCLUDED.is_admin,
    specialty = COALESCE(EXCLUDED.specialty, s.specialty);

-- name: update_staff
-- A NULL parameter keeps the current value.
UPDATE staff
SET is_admin = COALESCE(:is_admin::boolean, is_admin),
    specialty = COALESCE(:specialty, specialty),
    active = COALESCE(:active::boolean, active)
WHERE clinic_id = :clinic_id AND user_id = :user_id
RETURNING user_id;

-- name: clear_staff_services
DELETE FROM staff_services WHERE clinic_id = :clinic_id AND user_id = :user_id;

-- name: add_staff_services
-- Only services that (still) belong to the clinic.
INSERT INTO staff_services (clinic_id, user_id, service_id)
SELECT :clinic_id, :user_id, s.id
FROM services s
WHERE s.clinic_id = :clinic_id AND s.id = ANY(:service_ids::bigint[])
ON CONFLICT DO NOTHING;

-- name: staff_service_ids
SELECT ARRAY(SELECT service_id FROM staff_services
             WHERE clinic_id = :clinic_id AND user_id = :user_id ORDER BY 1) AS ids;

-- name: active_staff_pairs
-- Which of these (user, clinic) pairs (:user_ids[i], :clinic_ids[i]) are active staff now: the live re-check of
-- the queue sockets' right (docs/rules/realtime.md, guarantee 7), one statement for every socket of a process. The
-- `= ANY` lets the generic plan read the asked users' rows by staff_user_id_idx (docs/performance.md, "Plans").
SELECT s.user_id, s.clinic_id
FROM unnest(:user_ids::uuid[], :clinic_ids::bigint[]) AS asked (user_id, clinic_id)
JOIN staff s ON s.user_id = asked.user_id AND s.clinic_id = asked.clinic_id AND s.active
WHERE s.user_id = ANY(:user_ids::uuid[]);

-- name: is_active_staff
SELECT EXISTS (SELECT 1 FROM staff WHERE clinic_id = :clinic_id AND user_id = :user_id AND active) AS found;

-- Invitations and activation ----------------------------------------------------------------------------------

-- name: upsert_invitation
-- A new invitation, or the pending one for this person renewed (new code, attempts reset, new expiry).
INSERT INTO staff_invitations AS i (clinic_id, user_id, email, name, is_admin, service_ids, code_hash,
                                    expires_at, created_by)
VALUES (:clinic_id, :user_id, :email, :name, :is_admin, :service_ids::bigint[], :code_hash,
        now() + make_interval(secs => :ttl_seconds), :created_by::uuid)
ON CONFLICT (clinic_id, lower(email)) WHERE accepted_at IS NULL AND revoked_at IS NULL DO UPDATE
SET code_hash = EXCLUDED.code_hash,
    attempts = 0,
    expires_at = EXCLUDED.expires_at,
    name = COALESCE(EXCLUDED.name, i.name),
    is_admin = EXCLUDED.is_admin,
    service_ids = EXCLUDED.service_ids,
    created_by = EXCLUDED.created_by,
    sent_count = i.sent_count + 1
RETURNING id, email, name, is_admin, service_ids, expires_at, created_at, sent_count;

-- name: list_invitations
-- Pending invitations of a clinic (not accepted, revoked or burned), newest id last; fetches :limit + 1.
SELECT id, email, name, is_admin, service_ids, expires_at, created_at, sent_count
FROM staff_invitations
WHERE clinic_id = :clinic_id AND accepted_at IS NULL AND revoked_at IS NULL AND id > :after_id
ORDER BY id
LIMIT :limit + 1;

-- name: renew_invitation_code
-- Resend: a new code and expiry for a pending invitation; the old code stops working.
UPDATE staff_invitations
SET code_hash = :code_hash, attempts = 0, expires_at = now() + make_interval(secs => :ttl_seconds),
    sent_count = sent_count + 1
WHERE clinic_id = :clinic_id AND id = :invitation_id AND accepted_at IS NULL AND revoked_at IS NULL
RETURNING id, email, name, is_admin, service_ids, expires_at, created_at, sent_count;

-- name: revoke_invitation
UPDATE staff_invitations SET revoked_at = now()
WHERE clinic_id = :clinic_id AND id = :invitation_id AND accepted_at IS NULL AND revoked_at IS NULL
RETURNING id;

-- name: count_activation_attempt
-- Counts one activation attempt against every live invitation of the e-mail; the one whose code matches is
-- accepted (single use). Five wrong tries burn an invitation.
UPDATE staff_invitations i
SET attempts = i.attempts + 1,
    accepted_at = CASE WHEN i.code_hash = :code_hash THEN now() END,
    revoked_at = CASE WHEN i.code_hash <> :code_hash AND i.attempts + 1 >= :max_attempts THEN now() END
WHERE lower(i.email) = lower(:email)
  AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
RETURNING i.id, i.clinic_id, i.user_id, i.is_admin, i.service_ids, i.code_hash = :code_hash AS matched;

-- Tickets -------------------------------------------------------------------------------------------------------

-- name: service_for_ticket
-- The service a ticket is asked for: active, of an active clinic.
SELECT s.id, s.name, s.prefix, s.accepts, s.max_per_day
FROM services s
JOIN clinics c ON c.id = s.clinic_id AND c.active
WHERE s.clinic_id = :clinic_id AND s.id = :service_id AND s.active;

-- name: issue_ticket
-- The service's next number of the day (the day in the clinic's time zone at :now, default now()), the
-- ticket and its first step, in one statement. The counter row's lock serializes concurrent kiosks of one
-- service, so numbers are consecutive with no gap or duplicate; the DO UPDATE's WHERE refuses the number
-- beyond max_per_day (nothing is returned then). Anonymous web tickets (:origin 'online') also stop at their
-- own share of the day, floor(max_per_day * :web_share), counted in web_issued (docs/rules/clinic.md).
WITH svc AS (
    SELECT s.id, s.clinic_id, s.prefix,
           COALESCE(s.max_per_day, 999) AS cap,
           CASE WHEN :origin = 'online'
                THEN floor(COALESCE(s.max_per_day, 999) * :web_share::float8)::integer END AS web_cap,
           COALESCE(:now::timestamptz, now()) AS at,
           (COALESCE(:now::timestamptz, now()) AT TIME ZONE c.timezone)::date AS day
    FROM services s
    JOIN clinics c ON c.id = s.clinic_id AND c.active
    WHERE s.clinic_id = :clinic_id AND s.id = :service_id AND s.active
), counter AS (
    INSERT INTO ticket_counters AS tc (clinic_id, service_id, day, last_number, web_issued)
    SELECT clinic_id, id, day, 1, CASE WHEN web_cap IS NULL THEN 0 ELSE 1 END
    FROM svc
    WHERE web_cap IS NULL OR web_cap >= 1
    ON CONFLICT (service_id, day) DO UPDATE
    SET last_number = tc.last_number + 1, web_issued = tc.web_issued + EXCLUDED.web_issued
    WHERE tc.last_number < (SELECT cap FROM svc)
      AND (EXCLUDED.web_issued = 0 OR tc.web_issued < (SELECT web_cap FROM svc))
    RETURNING service_id, day, last_number
), ticket AS (
    INSERT INTO tickets (public_token, clinic_id, service_id, code, number, day, priority, patient_name,
                         issued_at, origin, issued_by)
    SELECT :public_token, svc.clinic_id, svc.id, svc.prefix || '-' || lpad(counter.last_number::text, 3, '0'),
           counter.last_number, counter.day, :priority, :patient_name, svc.at, :origin, :issued_by::uuid
    FROM svc JOIN counter ON counter.service_id = svc.id
    RETURNING id, public_token, clinic_id, service_id, code, priority, issued_at
), step AS (
    INSERT INTO attendances (ticket_id, clinic_id, service_id, priority_rank, arrived_at, queued_at)
    SELECT id, clinic_id, service_id,
           CASE priority WHEN 'emergency' THEN 3 WHEN 'preferential' THEN 2 ELSE 1 END, issued_at, issued_at
    FROM ticket
    RETURNING id
)
SELECT ticket.public_token, ticket.code, ticket.priority, ticket.issued_at, ticket.service_id, step.id AS step_id
FROM ticket, step;

-- Kiosks ---------------------------------------------------------------------------------------------------------

-- name: create_kiosk
INSERT INTO clinic_kiosks (clinic_id, name, token_hash, created_by)
VALUES (:clinic_id, :name, :token_hash, :created_by::uuid)
RETURNING id, name, created_at, last_used_at;

-- name: list_kiosks
SELECT id, name, created_at, last_used_at
FROM clinic_kiosks
WHERE clinic_id = :clinic_id
ORDER BY id;

-- name: delete_kiosk
DELETE FROM clinic_kiosks WHERE clinic_id = :clinic_id AND id = :kiosk_id
RETURNING id;

-- name: use_kiosk
-- The registered kiosk of this clinic holding this token, if any; marks when it was last used (at most once a
-- minute, so a busy kiosk does not rewrite its row on every ticket).
WITH kiosk AS (
    SELECT id, last_used_at FROM clinic_kiosks WHERE clinic_id = :clinic_id AND token_hash = :token_hash
), touched AS (
    UPDATE clinic_kiosks k
    SET last_used_at = now()
    FROM kiosk
    WHERE k.id = kiosk.id AND (kiosk.last_used_at IS NULL OR kiosk.last_used_at < now() - interval '1 minute')
)
SELECT id FROM kiosk;

-- name: waiting_ahead
-- How many waiting steps of the same service would be called before this one.
SELECT count(*) AS ahead
FROM attendances me
JOIN attendances a ON a.clinic_id = me.clinic_id AND a.service_id = me.service_id AND a.status = 'waiting'
WHERE me.id = :step_id AND a.id <> me.id
  AND (a.target_attendant_id IS NULL OR a.target_attendant_id = me.target_attendant_id)
  AND (a.priority_rank > me.priority_rank
       OR (a.priority_rank = me.priority_rank AND (a.queued_at, a.id) < (me.queued_at, me.id)));

-- name: ticket_by_token
-- What the patient holding the token may see: the code, the current step, the place in line while waiting,
-- and the route so far.
WITH t AS (
    SELECT * FROM tickets WHERE public_token = :public_token
), cur AS (
    SELECT a.* FROM attendances a JOIN t ON a.ticket_id = t.id ORDER BY a.id DESC LIMIT 1
)
SELECT t.code, t.priority, t.issued_at, t.clinic_id,
       cur.status, cur.service_id, s.name AS service, r.name AS room,
       CASE WHEN cur.status = 'waiting' THEN (
           SELECT count(*) + 1 FROM attendances a
           WHERE a.clinic_id = cur.clinic_id AND a.service_id = cur.service_id AND a.status = 'waiting'
             AND a.id <> cur.id
             AND (a.priority_rank > cur.priority_rank
                  OR (a.priority_rank = cur.priority_rank AND (a.queued_at, a.id) < (cur.queued_at, cur.id)))
       ) END AS position,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                     'service', ss.name, 'status', a.status, 'room', rr.name, 'arrived_at', a.arrived_at,
                     'called_at', a.called_at, 'started_at', a.started_at, 'finished_at', a.finished_at)
                     ORDER BY a.id)
                 FROM attendances a
                 JOIN services ss ON ss.id = a.service_id
                 LEFT JOIN rooms rr ON rr.id = a.room_id
                 WHERE a.ticket_id = t.id), '[]') AS route
FROM t
JOIN cur ON true
JOIN services s ON s.id = cur.service_id
LEFT JOIN rooms r ON r.id = cur.room_id;

-- Queue ---------------------------------------------------------------------------------------------------------

-- name: waiting_steps
-- The waiting steps in call order (emergency, preferential, normal; first in, first out), optionally of one
-- service.
SELECT a.id AS step_id, t.code, t.priority, a.service_id, s.name AS service, t.patient_name,
       a.queued_at, a.target_attendant_id
FROM attendances a
JOIN tickets t ON t.id = a.ticket_id
-- The clinic named in the join too, so that the planner may read one clinic's services
-- (services_clinic_id_id_key) rather than hash every clinic's once that table has grown with the clinics.
JOIN services s ON s.clinic_id = a.clinic_id AND s.id = a.service_id
WHERE a.clinic_id = :clinic_id AND a.status = 'waiting'
  AND (:service_id::bigint IS NULL OR a.service_id = :service_id::bigint)
ORDER BY a.priority_rank DESC, a.queued_at, a.id
LIMIT 1000;

-- name: queue_snapshot
-- The queue socket's snapshot, read in one statement with the queue topic's last seq so that the events after
-- that seq are exactly the changes not in it: the waiting steps in call order, the steps being called or served
-- (oldest call first) and the clinic's rooms with their occupants. Each step has the shape of `queue_step`.
WITH steps AS (
    SELECT a.id, a.status, a.priority_rank, a.queued_at, a.called_at
    FROM attendances a
    WHERE a.clinic_id = :clinic_id AND a.status = 'waiting'
    ORDER BY a.priority_rank DESC, a.queued_at, a.id
    LIMIT 1000
), held AS (
    SELECT a.id, a.status, a.priority_rank, a.queued_at, a.called_at
    FROM attendances a
    WHERE a.clinic_id = :clinic_id AND a.status IN ('called', 'in_service') AND a.attendant_id IS NOT NULL
    LIMIT 1000
), shown AS (
    SELECT x.id, x.status, x.priority_rank, x.queued_at, x.called_at,
           jsonb_build_object(
               'step_id', a.id, 'code', t.code, 'priority', t.priority, 'status', a.status,
               'service_id', a.service_id, 'service', s.name, 'arrived_at', a.arrived_at, 'queued_at', a.queued_at,
               'target_attendant_id', a.target_attendant_id, 'attendant_id', a.attendant_id,
               'room_id', a.room_id, 'room', r.name, 'called_at', a.called_at, 'started_at', a.started_at,
               'finished_at', a.finished_at) AS step
    FROM (SELECT * FROM steps UNION ALL SELECT * FROM held) x
    JOIN attendances a ON a.id = x.id
    JOIN tickets t ON t.id = a.ticket_id
    JOIN services s ON s.id = a.service_id
    LEFT JOIN rooms r ON r.id = a.room_id
)
SELECT COALESCE((SELECT last_seq FROM topic_seq WHERE topic = :topic), 0) AS seq,
       COALESCE((SELECT jsonb_agg(step ORDER BY priority_rank DESC, queued_at, id)
                 FROM shown WHERE status = 'waiting'), '[]') AS waiting,
       COALESCE((SELECT jsonb_agg(step ORDER BY called_at, id)
                 FROM shown WHERE status <> 'waiting'), '[]') AS in_progress,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                     'id', r.id, 'name', r.name, 'route_text', r.route_text, 'direction', r.direction,
                     'occupied_by', r.occupied_by, 'occupied_by_name', u.name, 'occupied_at', r.occupied_at)
                 ORDER BY r.id)
                 FROM rooms r LEFT JOIN users u ON u.id = r.occupied_by
                 WHERE r.clinic_id = :clinic_id), '[]') AS rooms;

-- name: queue_step
-- One step as the queue feed shows it (the `step` of a queue.changed event; no patient name: events are kept).
SELECT a.id AS step_id, t.code, t.priority, a.status, a.service_id, s.name AS service, a.arrived_at, a.queued_at,
       a.target_attendant_id, a.attendant_id, a.room_id, r.name AS room, a.called_at, a.started_at, a.finished_at
FROM attendances a
JOIN tickets t ON t.id = a.ticket_id
JOIN services s ON s.id = a.service_id
LEFT JOIN rooms r ON r.id = a.room_id
WHERE a.clinic_id = :clinic_id AND a.id = :step_id;

-- name: room_list
-- Every room of the clinic with its occupant: the rooms.changed event (a clinic has a few rooms).
SELECT r.id, r.name, r.route_text, r.direction, r.occupied_by, u.name AS occupied_by_name, r.occupied_at
FROM rooms r
LEFT JOIN users u ON u.id = r.occupied_by
WHERE r.clinic_id = :clinic_id
ORDER BY r.id
LIMIT 1000;

-- Desk: calling and the status machine ----------------------------------------------------------------------

-- name: held_step
-- The step the attendant holds (called or in service), if any: "call next" re-announces it.
SELECT id FROM attendances
WHERE clinic_id = :clinic_id AND attendant_id = :attendant_id AND status IN ('called', 'in_service');

-- name: call_next
-- The head of the queue among :service_ids that this attendant may take (steps forwarded to someone else are
-- not offered), locked with SKIP LOCKED so concurrent desks never take the same step, then called.
WITH next AS (
    SELECT a.id
    FROM attendances a
    WHERE a.clinic_id = :clinic_id AND a.status = 'waiting'
      AND a.service_id = ANY(:service_ids::bigint[])
      AND (a.target_attendant_id IS NULL OR a.target_attendant_id = :attendant_id)
    ORDER BY a.priority_rank DESC, a.queued_at, a.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE attendances a
SET status = 'called', attendant_id = :attendant_id, room_id = :room_id, called_at = now()
FROM next
WHERE a.id = next.id AND a.status = 'waiting'
RETURNING a.id;

-- name: call_step
-- Call a given waiting step (waiting -> called).
UPDATE attendances
SET status = 'called', attendant_id = :attendant_id, room_id = :room_id, called_at = now()
WHERE clinic_id = :clinic_id AND id = :step_id AND status = 'waiting'
  AND (target_attendant_id IS NULL OR target_attendant_id = :attendant_id)
RETURNING id;

-- name: start_step
-- called -> in_service.
UPDATE attendances SET status = 'in_service', started_at = now()
WHERE clinic_id = :clinic_id AND id = :step_id AND status = 'called'
RETURNING id;

-- name: no_show_step
-- called -> no_show.
UPDATE attendances SET status = 'no_show', finished_at = now()
WHERE clinic_id = :clinic_id AND id = :step_id AND status = 'called'
RETURNING id;

-- name: finish_step
-- in_service -> done.
UPDATE attendances SET status = 'done', finished_at = now(), notes = COALESCE(:notes, notes)
WHERE clinic_id = :clinic_id AND id = :step_id AND status = 'in_service'
RETURNING id;

-- name: forward_step
-- in_service or done -> forwarded (closing the step if it was still in service).
UPDATE attendances
SET status = 'forwarded', finished_at = COALESCE(finished_at, now()), notes = COALESCE(:notes, notes)
WHERE clinic_id = :clinic_id AND id = :step_id AND status IN ('in_service', 'done')
RETURNING id, ticket_id, priority_rank;

-- name: open_next_step
-- The next step of a forwarded route: same ticket (same code), waiting in the target service, offered only to
-- :target_attendant_id when one is given.
INSERT INTO attendances (ticket_id, clinic_id, service_id, parent_id, priority_rank, target_attendant_id)
VALUES (:ticket_id, :clinic_id, :service_id, :parent_id, :priority_rank, :target_attendant_id::uuid)
RETURNING id;

-- name: cancel_step
-- waiting or called -> cancelled.
UPDATE attendances SET status = 'cancelled', finished_at = now()
WHERE clinic_id = :clinic_id AND id = :step_id AND status IN ('waiting', 'called')
RETURNING id;

-- name: reactivate_step
-- cancelled or no_show -> waiting, at the back of the line of its priority (queued again now).
UPDATE attendances
SET status = 'waiting', queued_at = now(), attendant_id = NULL, room_id = NULL, called_at = NULL,
    finished_at = NULL
WHERE clinic_id = :clinic_id AND id = :step_id AND status IN ('cancelled', 'no_show')
RETURNING id;

-- name: lock_held_step
-- Recall: the step must be called or in service; locked until the announcement is written.
SELECT id FROM attendances
WHERE clinic_id = :clinic_id AND id = :step_id AND status IN ('called', 'in_service')
FOR UPDATE;

-- name: step_status
-- The current status of a step of the clinic (the 409's detail), nothing when it is not the clinic's.
SELECT status FROM attendances WHERE clinic_id = :clinic_id AND id = :step_id;

-- name: step_view
SELECT a.id, a.ticket_id, t.code, t.priority, t.patient_name, a.status, a.service_id, s.name AS service,
       a.parent_id, a.target_attendant_id, a.attendant_id, a.room_id, r.name AS room,
       a.arrived_at, a.called_at, a.started_at, a.finished_at, a.notes
FROM attendances a
JOIN tickets t ON t.id = a.ticket_id
JOIN services s ON s.id = a.service_id
LEFT JOIN rooms r ON r.id = a.room_id
WHERE a.clinic_id = :clinic_id AND a.id = :step_id;

-- name: record_call
-- What the TV shows for a call or recall of a step, with the seq of its display event and who announced it.
INSERT INTO calls (clinic_id, attendance_id, service_id, code, room, service, route_text, direction, priority,
                   recall, seq, called_by)
SELECT a.clinic_id, a.id, a.service_id, t.code, COALESCE(r.name, ''), s.name,
       -- The room's route when it has one, the service's otherwise: the same choice as call_announcement.
       COALESCE(r.route_text, s.route_text), COALESCE(r.direction, s.direction),
       t.priority, :recall, :seq, :called_by::uuid
FROM attendances a
JOIN tickets t ON t.id = a.ticket_id
JOIN services s ON s.id = a.service_id
LEFT JOIN rooms r ON r.id = a.room_id
WHERE a.id = :step_id
RETURNING id, called_at;

-- name: call_announcement
-- The display event of a call of a step (written before the calls row, which then records its seq). The
-- route shown is the room's when it has one (where the patient must go), the service's otherwise.
SELECT t.code, COALESCE(r.name, '') AS room, s.name AS service, a.service_id,
       COALESCE(r.route_text, s.route_text) AS route_text, COALESCE(r.direction, s.direction) AS direction,
       t.priority, now() AS called_at
FROM attendances a
JOIN tickets t ON t.id = a.ticket_id
JOIN services s ON s.id = a.service_id
LEFT JOIN rooms r ON r.id = a.room_id
WHERE a.id = :step_id;

-- Display -------------------------------------------------------------------------------------------------------

-- name: display_snapshot
-- The TV: the current call, the history (the last 5 distinct tickets called before it, each once with its latest
-- call: a recall moves a ticket up, it does not add a row), the next ticket in line, and the display topic's last
-- seq, in one statement. :service_ids (NULL = all) filters for a TV that serves only some services. Tickets are
-- told apart among the last 100 calls, which bounds the work whatever the day's volume and the clinic's history.
-- One branch per filter shape, the other one empty: with `:service_ids IS NULL OR ...` in one WHERE a generic plan
-- guesses a hundred matching calls, so it reads all of the clinic's calls (every day of its history) and sorts
-- them rather than read the newest hundred from calls_clinic_idx; filtered, the newest hundred of each service
-- (calls_clinic_service_idx), merged.
WITH last_calls AS (
    (SELECT c.id, c.attendance_id, c.code, c.room, c.service, c.service_id, c.route_text, c.direction, c.priority,
            c.recall, c.called_at, c.seq
     FROM calls c
     WHERE :service_ids::bigint[] IS NULL AND c.clinic_id = :clinic_id
     ORDER BY c.id DESC
     LIMIT 100)
    UNION ALL
    (SELECT c.*
     FROM unnest(:service_ids::bigint[]) AS f (service_id)
     CROSS JOIN LATERAL (
         SELECT c.id, c.attendance_id, c.code, c.room, c.service, c.service_id, c.route_text, c.direction,
                c.priority, c.recall, c.called_at, c.seq
         FROM calls c
         WHERE c.clinic_id = :clinic_id AND c.service_id = f.service_id
         ORDER BY c.id DESC
         LIMIT 100) c
     ORDER BY c.id DESC
     LIMIT 100)
), latest_per_ticket AS (
    SELECT DISTINCT ON (a.ticket_id) l.*
    FROM last_calls l
    JOIN attendances a ON a.id = l.attendance_id
    ORDER BY a.ticket_id, l.id DESC
), recent AS (
    SELECT id, code, room, service, service_id, route_text, direction, priority, recall, called_at, seq
    FROM latest_per_ticket
    ORDER BY id DESC
    LIMIT 6
), head AS (
    SELECT t.code, t.priority, s.name AS service, a.service_id
    FROM attendances a
    JOIN tickets t ON t.id = a.ticket_id
    JOIN services s ON s.clinic_id = a.clinic_id AND s.id = a.service_id
    WHERE a.clinic_id = :clinic_id AND a.status = 'waiting' AND a.target_attendant_id IS NULL
      AND (:service_ids::bigint[] IS NULL OR a.service_id = ANY(:service_ids::bigint[]))
    ORDER BY a.priority_rank DESC, a.queued_at, a.id
    LIMIT 1
)
SELECT COALESCE((SELECT last_seq FROM topic_seq WHERE topic = :topic), 0) AS seq,
       (SELECT to_jsonb(r) - 'id' FROM recent r ORDER BY r.id DESC LIMIT 1) AS current,
       COALESCE((SELECT jsonb_agg(to_jsonb(h) - 'id' ORDER BY h.id DESC)
                 FROM (SELECT * FROM recent ORDER BY id DESC OFFSET 1) h), '[]') AS history,
       (SELECT to_jsonb(head) FROM head) AS next;

-- Statistics (dates in the clinic's time zone; tickets.day already is) ------------------------------------------

-- name: stats_per_day
SELECT t.day, count(*) AS tickets
FROM tickets t
WHERE t.clinic_id = :clinic_id AND t.day BETWEEN :date_from::date AND :date_to::date
GROUP BY t.day
ORDER BY t.day;

-- name: stats_per_service
-- Per service: tickets issued for it (their first service), its steps (a forwarded ticket counts once in each
-- service of its route) and how many were served; average and p90, in seconds, of wait (the step began ->
-- called), walk (called -> started) and service (started -> finished) over its steps, and of total time in the
-- clinic (issued -> the last step finished) over the tickets that began here and whose route is over.
WITH day_tickets AS (
    SELECT t.id, t.service_id, t.issued_at
    FROM tickets t
    WHERE t.clinic_id = :clinic_id AND t.day BETWEEN :date_from::date AND :date_to::date
), steps AS (
    SELECT a.service_id,
           count(*) AS steps,
           count(*) FILTER (WHERE a.status IN ('done', 'forwarded') AND a.started_at IS NOT NULL) AS served,
           avg(extract(epoch FROM a.called_at - a.arrived_at))::float8 AS avg_wait_seconds,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.called_at - a.arrived_at))::float8
               AS p90_wait_seconds,
           avg(extract(epoch FROM a.started_at - a.called_at))::float8 AS avg_walk_seconds,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - a.called_at))::float8
               AS p90_walk_seconds,
           avg(extract(epoch FROM a.finished_at - a.started_at))::float8 AS avg_service_seconds,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at))::float8
               AS p90_service_seconds
    FROM day_tickets t
    JOIN attendances a ON a.ticket_id = t.id
    GROUP BY a.service_id
), totals AS (
    SELECT t.service_id, extract(epoch FROM max(a.finished_at) - t.issued_at)::float8 AS total
    FROM day_tickets t
    JOIN attendances a ON a.ticket_id = t.id
    GROUP BY t.id, t.service_id, t.issued_at
    HAVING bool_and(a.status IN ('done', 'forwarded', 'no_show', 'cancelled'))
       AND bool_or(a.status = 'done')
), first_service AS (
    SELECT t.service_id, count(*) AS tickets,
           (SELECT count(*) FROM totals x WHERE x.service_id = t.service_id) AS completed_tickets,
           (SELECT avg(x.total) FROM totals x WHERE x.service_id = t.service_id) AS avg_total_seconds,
           (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY x.total) FROM totals x
            WHERE x.service_id = t.service_id) AS p90_total_seconds
    FROM day_tickets t
    GROUP BY t.service_id
)
SELECT s.id AS service_id, s.name AS service, COALESCE(f.tickets, 0) AS tickets, COALESCE(st.steps, 0) AS steps,
       COALESCE(st.served, 0) AS served,
       st.avg_wait_seconds, st.p90_wait_seconds, st.avg_walk_seconds, st.p90_walk_seconds,
       st.avg_service_seconds, st.p90_service_seconds,
       COALESCE(f.completed_tickets, 0) AS completed_tickets, f.avg_total_seconds, f.p90_total_seconds
FROM services s
LEFT JOIN steps st ON st.service_id = s.id
LEFT JOIN first_service f ON f.service_id = s.id
WHERE s.clinic_id = :clinic_id AND (st.service_id IS NOT NULL OR f.service_id IS NOT NULL)
ORDER BY s.name, s.id;

-- name: stats_per_attendant
-- Per staff member: the steps they called and served (with their average service time), and the call and
-- recall announcements they made (`calls` counts both; `recalls` the second kind), for the range's tickets.
WITH day_steps AS (
    SELECT a.id, a.attendant_id, a.started_at, a.finished_at
    FROM tickets t
    JOIN attendances a ON a.ticket_id = t.id
    WHERE t.clinic_id = :clinic_id AND t.day BETWEEN :date_from::date AND :date_to::date
), served AS (
    SELECT attendant_id, count(*) AS steps, count(*) FILTER (WHERE started_at IS NOT NULL) AS served,
           avg(extract(epoch FROM finished_at - started_at))::float8 AS avg_service_seconds
    FROM day_steps
    WHERE attendant_id IS NOT NULL
    GROUP BY attendant_id
), announced AS (
    SELECT c.called_by AS attendant_id, count(*) AS calls, count(*) FILTER (WHERE c.recall) AS recalls
    FROM day_steps d
    JOIN calls c ON c.attendance_id = d.id
    WHERE c.called_by IS NOT NULL
    GROUP BY c.called_by
)
SELECT u.id AS attendant_id, u.name, COALESCE(s.steps, 0) AS steps, COALESCE(s.served, 0) AS served,
       s.avg_service_seconds, COALESCE(n.calls, 0) AS calls, COALESCE(n.recalls, 0) AS recalls
FROM served s
FULL JOIN announced n ON n.attendant_id = s.attendant_id
JOIN users u ON u.id = COALESCE(s.attendant_id, n.attendant_id)
ORDER BY u.name, u.id;

-- name: stats_now
-- The live strip (not bound to the range): how many steps wait now and since when the longest has waited.
SELECT count(*) AS waiting,
       extract(epoch FROM now() - min(a.arrived_at))::float8 AS longest_wait_seconds,
       now() AS at
FROM attendances a
WHERE a.clinic_id = :clinic_id AND a.status = 'waiting';

-- name: stats_times
-- Average and 90th percentile, in seconds, of: wait (the step began -> called), walk (called -> started),
-- service (started -> finished) over every step, and total time in the clinic (issued -> the last step
-- finished) over tickets whose route is over.
WITH steps AS (
    SELECT extract(epoch FROM a.called_at - a.arrived_at)::float8 AS wait,
           extract(epoch FROM a.started_at - a.called_at)::float8 AS walk,
           extract(epoch FROM a.finished_at - a.started_at)::float8 AS service
    FROM attendances a
    JOIN tickets t ON t.id = a.ticket_id
    WHERE t.clinic_id = :clinic_id AND t.day BETWEEN :date_from::date AND :date_to::date
), totals AS (
    SELECT extract(epoch FROM max(a.finished_at) - t.issued_at)::float8 AS total
    FROM tickets t
    JOIN attendances a ON a.ticket_id = t.id
    WHERE t.clinic_id = :clinic_id AND t.day BETWEEN :date_from::date AND :date_to::date
    GROUP BY t.id, t.issued_at
    HAVING bool_and(a.status IN ('done', 'forwarded', 'no_show', 'cancelled'))
       AND bool_or(a.status = 'done')
)
SELECT (SELECT avg(wait) FROM steps) AS avg_wait_seconds,
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY wait) FROM steps) AS p90_wait_seconds,
       (SELECT avg(walk) FROM steps) AS avg_walk_seconds,
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY walk) FROM steps) AS p90_walk_seconds,
       (SELECT avg(service) FROM steps) AS avg_service_seconds,
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY service) FROM steps) AS p90_service_seconds,
       (SELECT avg(total) FROM totals) AS avg_total_seconds,
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY total) FROM totals) AS p90_total_seconds,
       (SELECT count(*) FROM totals) AS completed_tickets;
