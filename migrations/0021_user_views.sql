-- user_views: one user as the API shows it (docs/rules/users.md): role, own claims and effective claims (the
-- role's active claims plus the user's own active ones), never the password hash. The one definition of that
-- projection, shared by sql/users.sql's user_view, list_users and list_users_by_role (each adds its filter and
-- order; the view is inlined, so the claims are computed only for the rows a query returns). Each user's
-- role_claims and user_claims are read once, together, and both arrays aggregated from that one read: two
-- subqueries read user_claims twice per user, a btree descent each (3 levels at 10 million rows; issue 14).
-- depends: 0020_clinic_call_author

CREATE VIEW user_views AS
SELECT u.id, u.name, u.email, u.bio, u.active, u.state, u.role_id, r.description AS role_description,
       granted.claims, granted.effective_claims, u.created_at, u.updated_at
FROM users u
JOIN roles r ON r.id = u.role_id
CROSS JOIN LATERAL (
    -- Sorted like the subqueries' ORDER BY were, and empty (not NULL) when there is none.
    SELECT COALESCE(array_agg(c.description ORDER BY c.description) FILTER (WHERE g.own), '{}') AS claims,
           COALESCE(array_agg(DISTINCT c.description ORDER BY c.description) FILTER (WHERE c.active), '{}')
               AS effective_claims
    FROM (SELECT rc.claim_id, false AS own FROM role_claims rc WHERE rc.role_id = u.role_id
          UNION ALL
          SELECT uc.claim_id, true FROM user_claims uc WHERE uc.user_id = u.id) g
    JOIN claims c ON c.id = g.claim_id
) granted;
