-- Reseller cashback (docs/rules/cashback.md): resellers, purchases and the cashback they earn.
--
-- The cashback rule lives in purchase_views: the reseller's total of non-rejected purchases in the calendar
-- month of a purchase picks a row of cashback_tiers (lower_bound < total <= upper_bound), whose percent applies
-- to every purchase of that month; cashback_value = value * percent / 100, rounded half-up to cents.

-- name: create_reseller
-- The reseller profile of a user created in the same transaction. Returns nothing when the CPF is taken
-- (the unique index decides, so two concurrent sign-ups with one CPF cannot both win).
INSERT INTO resellers (user_id, cpf)
VALUES (:user_id, :cpf)
ON CONFLICT (cpf) DO NOTHING
RETURNING user_id;

-- name: reseller_view
-- A reseller as the API shows it: the user's name and e-mail with the reseller's CPF (11 digits).
SELECT u.id, u.name AS full_name, r.cpf, u.email, r.created_at
FROM resellers r
JOIN users u ON u.id = r.user_id
WHERE r.user_id = :user_id;

-- name: reseller_by_cpf
-- The user behind a CPF (11 digits), for a manager's queries by CPF.
SELECT r.user_id
FROM resellers r
WHERE r.cpf = :cpf;

-- name: create_purchase
-- A new purchase of the reseller with CPF :cpf. Its status comes from auto_approved_cpfs: 'Aprovado' for a
-- listed CPF, otherwise 'Em validação'. Always returns one row: reseller_id is NULL when no reseller has the CPF,
-- purchase_id is NULL when the code is already taken (the unique index decides).
WITH owner AS (
    SELECT r.user_id, r.cpf
    FROM resellers r
    WHERE r.cpf = :cpf
), inserted AS (
    INSERT INTO purchases (code, value, purchased_on, reseller_id, status)
    SELECT :code::text, :value::numeric, :purchased_on::date, o.user_id,
           CASE WHEN EXISTS (SELECT 1 FROM auto_approved_cpfs a WHERE a.cpf = o.cpf)
                THEN 'Aprovado' ELSE 'Em validação' END
    FROM owner o
    ON CONFLICT (code) DO NOTHING
    RETURNING id
)
SELECT (SELECT user_id FROM owner) AS reseller_id,
       (SELECT id FROM inserted) AS purchase_id;

-- name: purchase_views
-- One reseller's purchases with their cashback, newest first, optionally only the month starting on :month_start
-- (NULL: every month). Keyset-paginated on (purchased_on, id) descending after (:after_date, :after_id) (NULL: the
-- first page); fetches :limit + 1 rows. The missing bounds are written as infinities rather than `:x IS NULL OR`,
-- so the one generic plan (psycopg prepares a statement after five executions) walks
-- purchases_reseller_date_idx from the cursor down (tests/test_sql_plans.py). One purchase: purchase_view.
-- The cashback of each purchase: the month total counts the reseller's purchases that are not 'Reprovado' in
-- that calendar month (purchased_on is a calendar date, already in APP_TIMEZONE); the tier whose
-- (lower_bound, upper_bound] holds the total gives the percent. A rejected purchase earns nothing (0 %, 0.00).
-- round(numeric, 2) rounds halves away from zero, i.e. half-up for these positive amounts.
WITH chosen AS (
    SELECT p.id, p.code, p.value, p.purchased_on, p.status, p.reseller_id
    FROM purchases p
    WHERE p.reseller_id = :reseller_id::uuid
      AND p.purchased_on >= COALESCE(:month_start::date, '-infinity'::date)
      AND p.purchased_on < COALESCE((:month_start::date + interval '1 month')::date, 'infinity'::date)
      AND (p.purchased_on, p.id) < (COALESCE(:after_date::date, 'infinity'::date),
                                    COALESCE(:after_id::bigint, 9223372036854775807))
    ORDER BY p.purchased_on DESC, p.id DESC
    LIMIT :limit + 1
), months AS (
    SELECT DISTINCT c.reseller_id, date_trunc('month', c.purchased_on::timestamp)::date AS month_start
    FROM chosen c
), totals AS MATERIALIZED (
    -- Once per month shown: inlined, a generic plan (it guesses one chosen row) computed the months' totals again
    -- for each row of the page (a page of 20 over 10 months: ~800 pages rather than ~100; docs/performance.md).
    SELECT m.reseller_id, m.month_start,
           COALESCE(sum(q.value) FILTER (WHERE q.status <> 'Reprovado'), 0) AS total
    FROM months m
    JOIN purchases q ON q.reseller_id = m.reseller_id
                    AND q.purchased_on >= m.month_start
                    AND q.purchased_on < (m.month_start + interval '1 month')::date
    GROUP BY m.reseller_id, m.month_start
)
SELECT c.id, c.code, c.value, c.purchased_on AS date, c.status,
       COALESCE(t.percent, 0.00) AS cashback_percent,
       COALESCE(round(c.value * t.percent / 100, 2), 0.00) AS cashback_value
FROM chosen c
JOIN totals m ON m.reseller_id = c.reseller_id
             AND m.month_start = date_trunc('month', c.purchased_on::timestamp)::date
LEFT JOIN cashback_tiers t ON c.status <> 'Reprovado'
                          AND m.total > t.lower_bound
                          AND (t.upper_bound IS NULL OR m.total <= t.upper_bound)
ORDER BY c.purchased_on DESC, c.id DESC;

-- name: purchase_view
-- One purchase with its cashback (the rule as in purchase_views), when :reseller_id owns it (or when :reseller_id
-- is NULL: anyone's). The optional owner check filters the one row the primary key finds.
WITH chosen AS (
    SELECT p.id, p.code, p.value, p.purchased_on, p.status, p.reseller_id
    FROM purchases p
    WHERE p.id = :purchase_id::bigint
      AND (:reseller_id::uuid IS NULL OR p.reseller_id = :reseller_id::uuid)
), months AS (
    SELECT DISTINCT c.reseller_id, date_trunc('month', c.purchased_on::timestamp)::date AS month_start
    FROM chosen c
), totals AS (
    SELECT m.reseller_id, m.month_start,
           COALESCE(sum(q.value) FILTER (WHERE q.status <> 'Reprovado'), 0) AS total
    FROM months m
    JOIN purchases q ON q.reseller_id = m.reseller_id
                    AND q.purchased_on >= m.month_start
                    AND q.purchased_on < (m.month_start + interval '1 month')::date
    GROUP BY m.reseller_id, m.month_start
)
SELECT c.id, c.code, c.value, c.purchased_on AS date, c.status,
       COALESCE(t.percent, 0.00) AS cashback_percent,
       COALESCE(round(c.value * t.percent / 100, 2), 0.00) AS cashback_value
FROM chosen c
JOIN totals m ON m.reseller_id = c.reseller_id
             AND m.month_start = date_trunc('month', c.purchased_on::timestamp)::date
LEFT JOIN cashback_tiers t ON c.status <> 'Reprovado'
                          AND m.total > t.lower_bound
                          AND (t.upper_bound IS NULL OR m.total <= t.upper_bound)
ORDER BY c.purchased_on DESC, c.id DESC;

-- name: purchase_status
-- The current status of a purchase, when :reseller_id owns it (or when :reseller_id is NULL: anyone's).
-- Used after a conditional change touched nothing, to answer 404 (unknown or not yours) or 409 (its status).
SELECT p.status
FROM purchases p
WHERE p.id = :purchase_id
  AND (:reseller_id::uuid IS NULL OR p.reseller_id = :reseller_id::uuid);

-- name: update_purchase
-- The owner edits a purchase, only while it is 'Em validação'; a NULL parameter keeps the current value.
-- Touches nothing (returns no row) when the purchase is unknown, someone else's, or no longer 'Em validação'.
UPDATE purchases
SET code = COALESCE(:code::text, code),
    value = COALESCE(:value::numeric, value),
    purchased_on = COALESCE(:purchased_on::date, purchased_on),
    updated_at = now()
WHERE id = :purchase_id
  AND reseller_id = :reseller_id
  AND status = 'Em validação'
RETURNING id;

-- name: delete_purchase
-- The owner withdraws a purchase, only while it is 'Em validação' (same conditions as update_purchase).
DELETE FROM purchases
WHERE id = :purchase_id
  AND reseller_id = :reseller_id
  AND status = 'Em validação'
RETURNING id;

-- name: approve_purchase
-- A manager approves a purchase that is 'Em validação'; nothing happens from any other status.
UPDATE purchases
SET status = 'Aprovado', updated_at = now()
WHERE id = :purchase_id
  AND status = 'Em validação'
RETURNING id;

-- name: reject_purchase
-- A manager rejects a purchase that is 'Em validação', or reverses an approval ('Aprovado', e.g. one approved
-- automatically); a rejected purchase leaves its month's total, so its month-mates' cashback may drop.
UPDATE purchases
SET status = 'Reprovado', updated_at = now()
WHERE id = :purchase_id
  AND status IN ('Em validação', 'Aprovado')
RETURNING id;
