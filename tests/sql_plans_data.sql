-- Data for tests/test_sql_plans.py: ~100k rows in each table that grows, so the planner's choices are the ones a
-- grown database gets. The shape is a steady state: most users hold the default role, and the tables the
-- maintenance loop prunes hold about what their retention keeps (a few percent due for deletion). Ids are derived from the series number (users: md5('user' || n)::uuid), so rows can refer
-- to each other without lookups. Run once, in one transaction, on a private copy of the migrated schema.

-- Users and what hangs off them ---------------------------------------------------------------------------------
-- Account states: 2% deactivated, 0.5% invited (no password yet), 0.5% deleted (anonymised), the rest active.
INSERT INTO users (id, name, email, password_hash, role_id, created_at, updated_at, state, deleted_at)
SELECT md5('user' || g)::uuid, 'User ' || g, 'user' || g || '@example.com',
       CASE WHEN g % 200 = 3 THEN NULL ELSE 'hash' END,
       CASE WHEN g % 1000 = 0 THEN 1 WHEN g % 100 = 0 THEN 2 WHEN g % 500 = 1 THEN 3 ELSE 4 END,
       now() - make_interval(mins => 100000 - g), now(),
       CASE WHEN g % 200 = 3 THEN 'invited' WHEN g % 200 = 5 THEN 'deleted' WHEN g % 50 = 7 THEN 'deactivated'
            ELSE 'active' END,
       CASE WHEN g % 200 = 5 THEN now() END
FROM generate_series(1, 100000) g;

INSERT INTO user_claims (user_id, claim_id)
SELECT md5('user' || g)::uuid, 1 + g % 4 FROM generate_series(1, 100000, 50) g;

INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at, last_seen_at)
SELECT sha256(('token' || g)::bytea), md5('user' || (1 + g % 100000))::uuid,
       CASE WHEN g % 2 = 0 THEN 'cookie' ELSE 'bearer' END,
       now() - make_interval(mins => g % 10000), now() + make_interval(mins => g % 20000 - 400),
       now() - make_interval(secs => g % 3000)
FROM generate_series(1, 100000) g;

INSERT INTO password_resets (user_id, code_hash, created_at, expires_at, consumed_at)
SELECT md5('user' || g)::uuid, sha256(('code' || g)::bytea), now(), now() + interval '1 hour',
       CASE WHEN g % 10 <> 0 THEN now() END
FROM generate_series(1, 100000, 5) g;

INSERT INTO audit_log (at, actor_id, action, subject, detail)
SELECT now() - make_interval(mins => g), md5('user' || (1 + g % 1000))::uuid, 'grant',
       'user:' || md5('user' || (1 + g % 100000))::uuid, '{}'
FROM generate_series(1, 100000) g;

-- Platform ------------------------------------------------------------------------------------------------------
INSERT INTO rate_limits (bucket, window_start, hits)
SELECT 'login:address:10.0.' || (g % 250) || '.' || (g / 250),
       date_trunc('minute', now()) - make_interval(mins => g % 1500), 1 + g % 5
FROM generate_series(1, 100000) g;

-- Almost all sent; of the 100 unsent, half failed for good (kept for an operator), a tenth leased by a sender.
INSERT INTO outbox (to_address, subject, body, created_at, attempts, next_attempt_at, sent_at, failed_at,
                    leased_until, deferrals)
SELECT 'user' || g || '@example.com', 'Subject', 'Body', now() - make_interval(secs => 30 * g),
       CASE WHEN g % 2000 = 0 THEN 5 ELSE 1 END,
       now() - make_interval(secs => 30 * g), CASE WHEN g % 1000 <> 0 THEN now() - make_interval(secs => 30 * g) END,
       CASE WHEN g % 2000 = 0 THEN now() - make_interval(secs => 30 * g) END,
       CASE WHEN g % 10000 = 1000 THEN now() + interval '1 minute' END, CASE WHEN g % 1000 = 0 THEN 1 ELSE 0 END
FROM generate_series(1, 100000) g;

INSERT INTO idempotency_keys (owner, key, request_hash, status_code, response, created_at)
SELECT md5('user' || (1 + g % 100000))::uuid::text, 'key-' || g, sha256(('r' || g)::bytea), 201, '\x00',
       now() - make_interval(mins => g % 1500)
FROM generate_series(1, 100000) g;

-- Auctions and their events -------------------------------------------------------------------------------------
INSERT INTO products (id, seller_id, product_name, description, baseprice, auction_end, status, current_bid,
                      current_bidder_id, bid_count, bidder_count, winner_id, winning_bid, closed_at, created_at)
SELECT md5('product' || g)::uuid, md5('user' || (1 + g % 5000))::uuid, 'Product ' || g, 'A product for sale',
       100, now() + make_interval(mins => g - 18000),
       CASE WHEN g > 18000 THEN 'open' ELSE 'closed' END,
       105, md5('user' || (1 + (g + 7) % 100000))::uuid, 5, 3,
       CASE WHEN g <= 18000 THEN md5('user' || (1 + (g + 7) % 100000))::uuid END,
       CASE WHEN g <= 18000 THEN 105 END,
       CASE WHEN g <= 18000 THEN now() + make_interval(mins => g - 18000) END,
       now() - make_interval(mins => 20000 - g)
FROM generate_series(1, 20000) g;

-- The bids of the deactivated and deleted accounts are withdrawn, not deleted (0015_account_side_effects).
INSERT INTO bids (product_id, bidder_id, bid_amount, created_at, withdrawn_at, bidder_number)
SELECT md5('product' || (1 + g % 20000))::uuid, md5('user' || (1 + g % 100000))::uuid, 100 + g / 20000,
       now() - make_interval(secs => 100000 - g),
       CASE WHEN (1 + g % 100000) % 50 = 7 OR (1 + g % 100000) % 200 = 5 THEN now() END,
       1 + g / 20000
FROM generate_series(1, 100000) g;

INSERT INTO topic_seq (topic, last_seq)
SELECT 'product:' || md5('product' || g)::uuid, 5 FROM generate_series(1, 20000) g;

INSERT INTO events (topic, seq, payload, created_at)
SELECT 'product:' || md5('product' || (1 + g % 20000))::uuid, 1 + g / 20000, '{"kind": 4}',
       now() - make_interval(secs => 100000 - g)
FROM generate_series(0, 99999) g;

-- Clinic: 20 clinics, 5 services and 5 rooms each, 50 staff each, ~100k tickets over 200 days -----------------
INSERT INTO clinics (id, name, slug, timezone) OVERRIDING SYSTEM VALUE
SELECT g, 'Clinic ' || g, 'clinic-' || g, 'America/Sao_Paulo' FROM generate_series(1, 20) g;

INSERT INTO services (id, clinic_id, name, prefix) OVERRIDING SYSTEM VALUE
SELECT g, 1 + (g - 1) / 5, 'Service ' || g, chr(65 + (g - 1) % 5) FROM generate_series(1, 100) g;

INSERT INTO rooms (id, clinic_id, name, occupied_by, occupied_at) OVERRIDING SYSTEM VALUE
SELECT g, 1 + (g - 1) / 5, 'Room ' || g, md5('user' || (90000 + g))::uuid, now() FROM generate_series(1, 100) g;

INSERT INTO staff (clinic_id, user_id, is_admin)
SELECT 1 + g % 20, md5('user' || (90000 + g))::uuid, g % 10 = 0 FROM generate_series(1, 1000) g;

INSERT INTO staff_services (clinic_id, user_id, service_id)
SELECT 1 + g % 20, md5('user' || (90000 + g))::uuid, 1 + (g % 20) * 5 + g % 5 FROM generate_series(1, 1000) g;

INSERT INTO staff_invitations (clinic_id, user_id, email, code_hash, expires_at, accepted_at)
SELECT 1 + g % 20, md5('user' || (80000 + g))::uuid, 'user' || (80000 + g) || '@example.com',
       sha256(('invite' || g)::bytea), now() + interval '1 day', CASE WHEN g % 10 <> 0 THEN now() END
FROM generate_series(1, 5000) g;

INSERT INTO ticket_counters (clinic_id, service_id, day, last_number, web_issued)
SELECT 1 + (s - 1) / 5, s, current_date - d, 5, 1 FROM generate_series(1, 100) s, generate_series(0, 199) d;

-- A few registered kiosks per clinic (an admin registers each device).
INSERT INTO clinic_kiosks (clinic_id, name, token_hash, created_by, last_used_at)
SELECT 1 + g % 20, 'Kiosk ' || g, sha256(('kiosk' || g)::bytea), md5('user' || (90000 + g))::uuid, now()
FROM generate_series(1, 60) g;

INSERT INTO tickets (id, public_token, clinic_id, service_id, code, number, day, priority, issued_at, origin)
OVERRIDING SYSTEM VALUE
SELECT row_number() OVER (), md5('ticket' || s || '-' || d || '-' || n), 1 + (s - 1) / 5, s,
       'A-' || lpad(n::text, 3, '0'), n, current_date - d,
       CASE WHEN n = 1 THEN 'preferential' ELSE 'normal' END, now() - make_interval(days => d), 'totem'
FROM generate_series(1, 100) s, generate_series(0, 199) d, generate_series(1, 5) n;

-- One step per ticket: done, except today's, which are waiting.
INSERT INTO attendances (id, ticket_id, clinic_id, service_id, status, priority_rank, attendant_id, room_id,
                         arrived_at, queued_at, called_at, started_at, finished_at) OVERRIDING SYSTEM VALUE
SELECT t.id, t.id, t.clinic_id, t.service_id, CASE WHEN t.day = current_date THEN 'waiting' ELSE 'done' END,
       CASE WHEN t.priority = 'preferential' THEN 2 ELSE 1 END,
       CASE WHEN t.day <> current_date THEN md5('user' || (90001 + t.id % 100))::uuid END,
       CASE WHEN t.day <> current_date THEN t.service_id END,
       t.issued_at, t.issued_at,
       CASE WHEN t.day <> current_date THEN t.issued_at + interval '10 minutes' END,
       CASE WHEN t.day <> current_date THEN t.issued_at + interval '12 minutes' END,
       CASE WHEN t.day <> current_date THEN t.issued_at + interval '30 minutes' END
FROM tickets t;

INSERT INTO calls (clinic_id, attendance_id, service_id, code, room, service, route_text, direction, priority, seq,
                   called_at, called_by)
SELECT a.clinic_id, a.id, a.service_id, 'A-001', 'Room', 'Service', '', 'straight', 'normal', a.id, a.called_at,
       a.attendant_id
FROM attendances a WHERE a.status = 'done';

-- Cashback: 10k resellers with 10 purchases each ----------------------------------------------------------------
INSERT INTO resellers (user_id, cpf)
SELECT md5('user' || g)::uuid, lpad(g::text, 11, '0') FROM generate_series(1, 10000) g;

INSERT INTO purchases (code, value, purchased_on, reseller_id, status)
SELECT 'P' || g, 50 + g % 500, current_date - g % 730, md5('user' || (1 + g % 10000))::uuid,
       (ARRAY['Em validação', 'Aprovado', 'Reprovado'])[1 + g % 3]
FROM generate_series(1, 100000) g;
