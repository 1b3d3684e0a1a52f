-- Data for loadtest/bench_scale.py: the number of entities grows with bench.n, each entity's own data does not.
-- bench.n rows in the largest table of each area (users, sessions, purchases, bids, events, tickets,
-- attendances, calls); bench.clinics clinics x bench.days days of history x 25 tickets a day.
-- Per entity, at every size: a reseller has 20 purchases (two a month), a product 10 bids and 10 events, a clinic
-- 5 services, 5 rooms, 10 staff, 5 invitations, 3 kiosks and 25 tickets a day; a user a session.
-- The pruned tables hold about their retention (a few percent due), as in a steady state.
-- Ids derive from the series number (users: md5('user' || n)::uuid), so rows refer to each other without
-- look-ups. Run by loadtest/bench_scale.py on a database without the secondary indexes of these tables.

-- Users and what hangs off them -------------------------------------------------------------------------------
INSERT INTO users (id, name, email, password_hash, role_id, created_at, updated_at, state, deleted_at)
SELECT md5('user' || g)::uuid, 'User ' || g, 'user' || g || '@example.com',
       CASE WHEN g % 200 = 3 THEN NULL ELSE 'hash' END,
       CASE WHEN g % 1000 = 0 THEN 1 WHEN g % 100 = 0 THEN 2 WHEN g % 500 = 1 THEN 3 ELSE 4 END,
       now() - make_interval(secs => current_setting('bench.n')::int - g), now(),
       CASE WHEN g % 200 = 3 THEN 'invited' WHEN g % 200 = 5 THEN 'deleted' WHEN g % 50 = 7 THEN 'deactivated'
            ELSE 'active' END,
       CASE WHEN g % 200 = 5 THEN now() END
FROM generate_series(1, current_setting('bench.n')::int) g;

INSERT INTO user_claims (user_id, claim_id)
SELECT md5('user' || g)::uuid, 1 + g % 4 FROM generate_series(1, current_setting('bench.n')::int, 50) g;

-- 3% expired, the cookie ones idle for up to three hours (the idle limit is two).
INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at, last_seen_at)
SELECT sha256(('token' || g)::bytea), md5('user' || g)::uuid,
       CASE WHEN g % 2 = 0 THEN 'cookie' ELSE 'bearer' END,
       now() - interval '1 day', now() + make_interval(mins => g % 10000 - 300),
       now() - make_interval(secs => g % 10800)
FROM generate_series(1, current_setting('bench.n')::int) g;

INSERT INTO password_resets (user_id, code_hash, created_at, expires_at, consumed_at)
SELECT md5('user' || g)::uuid, sha256(('code' || g)::bytea), now(), now() + interval '1 hour',
       CASE WHEN g % 10 <> 0 THEN now() END
FROM generate_series(1, current_setting('bench.n')::int, 20) g;

INSERT INTO audit_log (at, actor_id, action, subject, detail)
SELECT now() - make_interval(secs => g), md5('user' || (1 + g % 1000))::uuid, 'grant',
       'user:' || md5('user' || g)::uuid, '{}'
FROM generate_series(1, current_setting('bench.n')::int, 10) g;

-- Platform: a tenth of bench.n each, 4% past their one-day retention -------------------------------------------
INSERT INTO rate_limits (bucket, window_start, hits)
SELECT 'login:address:' || g, date_trunc('minute', now()) - make_interval(mins => g % 1500), 1 + g % 5
FROM generate_series(1, current_setting('bench.n')::int, 10) g;

INSERT INTO idempotency_keys (owner, key, request_hash, status_code, response, created_at)
SELECT md5('user' || g)::uuid::text, 'key-' || g, sha256(('r' || g)::bytea), 201, '\x00',
       now() - make_interval(mins => g % 1500)
FROM generate_series(1, current_setting('bench.n')::int, 10) g;

-- Sent over the last 31 days (3% past the 30-day retention); one in a thousand due, one in two thousand failed.
INSERT INTO outbox (to_address, subject, body, created_at, attempts, next_attempt_at, sent_at, failed_at, deferrals)
SELECT 'user' || g || '@example.com', 'Subject', 'Body', now() - make_interval(mins => g % 44640),
       CASE WHEN g % 2000 = 0 THEN 5 ELSE 1 END, now() - make_interval(mins => g % 44640),
       CASE WHEN g % 1000 <> 0 THEN now() - make_interval(mins => g % 44640) END,
       CASE WHEN g % 2000 = 0 THEN now() - make_interval(mins => g % 44640) END, 0
FROM generate_series(1, current_setting('bench.n')::int, 10) g;

-- Auctions: bench.n / 10 products, one a minute, open for a day; 10 bids and 10 events each ----------------
INSERT INTO products (id, seller_id, product_name, description, baseprice, auction_end, status, current_bid,
                      current_bidder_id, bid_count, bidder_count, winner_id, winning_bid, closed_at, created_at)
SELECT md5('product' || g)::uuid, md5('user' || (1 + g % 5000))::uuid, 'Product ' || g, 'A product for sale', 100,
       e.ends, e.status, 110, e.leader, 10, 10,
       CASE WHEN e.status = 'closed' THEN e.leader END, CASE WHEN e.status = 'closed' THEN 110 END,
       CASE WHEN e.status = 'closed' THEN e.ends END, e.created
FROM generate_series(1, current_setting('bench.n')::int / 10) g,
     LATERAL (SELECT now() - make_interval(mins => current_setting('bench.n')::int / 10 - g) AS created,
                     now() - make_interval(mins => current_setting('bench.n')::int / 10 - g) + interval '1 day' AS ends,
                     md5('user' || (1 + (g * 10 + 9) % current_setting('bench.n')::int))::uuid AS leader) e0,
     -- One in 500 ended but not closed yet: the closer's batch.
     LATERAL (SELECT e0.*, CASE WHEN e0.ends > now() OR g % 500 = 0 THEN 'open' ELSE 'closed' END AS status) e;

INSERT INTO bids (product_id, bidder_id, bid_amount, created_at)
SELECT md5('product' || (1 + g / 10))::uuid, md5('user' || (1 + g % current_setting('bench.n')::int))::uuid,
       101 + g % 10, now() - make_interval(mins => current_setting('bench.n')::int / 10 - 1 - g / 10)
                         + make_interval(secs => g % 10)
FROM generate_series(0, current_setting('bench.n')::int - 1) g;

INSERT INTO topic_seq (topic, last_seq)
SELECT 'product:' || md5('product' || g)::uuid, 10 FROM generate_series(1, current_setting('bench.n')::int / 10) g;

-- The events of a product are as old as it is. Pruned as the maintenance loop leaves them: of a product older
-- than the 7-day retention only the newest event is kept, except for the last two hours' worth (due).
INSERT INTO events (topic, seq, payload, created_at)
SELECT 'product:' || md5('product' || (1 + g / 10))::uuid, 1 + g % 10, '{"kind": 4}', e.created_at
FROM generate_series(0, current_setting('bench.n')::int - 1) g,
     LATERAL (SELECT now() - make_interval(mins => current_setting('bench.n')::int / 10 - 1 - g / 10)
                     + make_interval(secs => g % 10) AS created_at) e
WHERE g % 10 = 9 OR e.created_at > now() - interval '7 days 2 hours';

-- Clinic: bench.clinics clinics with 5 services, 5 rooms, 10 staff (user k of clinic c: 10 * (c - 1) + k),
-- 5 invitations and 3 kiosks each; 5 tickets per service per day over bench.days days ------------------------
INSERT INTO clinics (id, name, slug, timezone) OVERRIDING SYSTEM VALUE
SELECT g, 'Clinic ' || g, 'clinic-' || g, 'America/Sao_Paulo'
FROM generate_series(1, current_setting('bench.clinics')::int) g;

INSERT INTO services (id, clinic_id, name, prefix) OVERRIDING SYSTEM VALUE
SELECT g, 1 + (g - 1) / 5, 'Service ' || g, chr(65 + (g - 1) % 5)
FROM generate_series(1, current_setting('bench.clinics')::int * 5) g;

INSERT INTO rooms (id, clinic_id, name) OVERRIDING SYSTEM VALUE
SELECT g, 1 + (g - 1) / 5, 'Room ' || g FROM generate_series(1, current_setting('bench.clinics')::int * 5) g;

INSERT INTO staff (clinic_id, user_id, is_admin)
SELECT 1 + (g - 1) / 10, md5('user' || g)::uuid, g % 10 = 1
FROM generate_series(1, current_setting('bench.clinics')::int * 10) g;

INSERT INTO staff_services (clinic_id, user_id, service_id)
SELECT 1 + (g - 1) / 10, md5('user' || g)::uuid, 5 * ((g - 1) / 10) + 1 + g % 5
FROM generate_series(1, current_setting('bench.clinics')::int * 10) g;

INSERT INTO staff_invitations (clinic_id, user_id, email, code_hash, expires_at)
SELECT 1 + (g - 1) / 5, md5('invited' || g)::uuid, 'invited' || g || '@example.com', sha256(('invite' || g)::bytea),
       now() + interval '1 day'
FROM generate_series(1, current_setting('bench.clinics')::int * 5) g;

INSERT INTO clinic_kiosks (clinic_id, name, token_hash, created_by)
SELECT 1 + (g - 1) / 3, 'Kiosk ' || g, sha256(('kiosk' || g)::bytea), md5('user' || (10 * ((g - 1) / 3) + 1))::uuid
FROM generate_series(1, current_setting('bench.clinics')::int * 3) g;

INSERT INTO ticket_counters (clinic_id, service_id, day, last_number, web_issued)
SELECT 1 + (s - 1) / 5, s, current_date - d, 5, 1
FROM generate_series(1, current_setting('bench.clinics')::int * 5) s,
     generate_series(0, current_setting('bench.days')::int - 1) d;

-- Ticket id: ((service - 1) * days + day) * 5 + number; its public token: md5('ticket' || id).
INSERT INTO tickets (id, public_token, clinic_id, service_id, code, number, day, priority, issued_at, origin)
OVERRIDING SYSTEM VALUE
SELECT t.id, md5('ticket' || t.id), 1 + (s - 1) / 5, s, chr(65 + (s - 1)::int % 5) || '-' || lpad(n::text, 3, '0'),
       n, current_date - d, CASE WHEN n = 1 THEN 'preferential' ELSE 'normal' END,
       current_date - d + time '08:00' + make_interval(mins => 20 * n), 'totem'
FROM generate_series(1, current_setting('bench.clinics')::int * 5) s,
     generate_series(0, current_setting('bench.days')::int - 1) d,
     generate_series(1, 5) n,
     LATERAL (SELECT ((s - 1) * current_setting('bench.days')::int + d) * 5 + n AS id) t;

-- One step per ticket, served by one of the clinic's staff: done, except today's, which are waiting.
INSERT INTO attendances (id, ticket_id, clinic_id, service_id, status, priority_rank, attendant_id, room_id,
                         arrived_at, queued_at, called_at, started_at, finished_at) OVERRIDING SYSTEM VALUE
SELECT t.id, t.id, t.clinic_id, t.service_id, CASE WHEN t.day = current_date THEN 'waiting' ELSE 'done' END,
       CASE WHEN t.priority = 'preferential' THEN 2 ELSE 1 END,
       CASE WHEN t.day <> current_date THEN md5('user' || (10 * (t.clinic_id - 1) + 1 + t.number))::uuid END,
       CASE WHEN t.day <> current_date THEN t.service_id END,
       t.issued_at, t.issued_at,
       CASE WHEN t.day <> current_date THEN t.issued_at + interval '10 minutes' END,
       CASE WHEN t.day <> current_date THEN t.issued_at + interval '12 minutes' END,
       CASE WHEN t.day <> current_date THEN t.issued_at + interval '30 minutes' END
FROM tickets t;

INSERT INTO calls (clinic_id, attendance_id, service_id, code, room, service, route_text, direction, priority, seq,
                   called_at)
SELECT a.clinic_id, a.id, a.service_id, 'A-001', 'Room', 'Service', '', 'straight', 'normal', a.id, a.called_at
FROM attendances a WHERE a.status = 'done';

-- Cashback: bench.n / 20 resellers with 20 purchases each, two a month ------------------------------------------
INSERT INTO resellers (user_id, cpf)
SELECT md5('user' || g)::uuid, lpad(g::text, 11, '0') FROM generate_series(1, current_setting('bench.n')::int / 20) g;

INSERT INTO purchases (code, value, purchased_on, reseller_id, status)
SELECT 'P' || g, 50 + g % 500, current_date - 15 * (g / (current_setting('bench.n')::int / 20)),
       md5('user' || (1 + g % (current_setting('bench.n')::int / 20)))::uuid,
       (ARRAY['Em validação', 'Aprovado', 'Reprovado'])[1 + g % 3]
FROM generate_series(0, current_setting('bench.n')::int - 1) g;
