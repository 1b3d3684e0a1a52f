-- The cost of authentication and of a bid (issue 14).
--
-- principals: who a session names, with role and effective claims (the role's active claims plus the user's
-- own); one row per session of an active account. Shared by sql/auth.sql's session_principal (one token per
-- request) and live_principals (the sockets' re-check, many tokens): each adds the liveness test
-- (session_is_live, which needs the idle timeout) and the idle-timer touch. The claims are computed only for
-- the rows a query returns (the view is inlined).
-- depends: 0018_pages

CREATE VIEW principals AS
SELECT s.token_hash AS session_hash, s.kind AS session_kind, s.expires_at, s.last_seen_at,
       u.id, u.email, u.name, u.role_id, r.description AS role_description,
       ARRAY(
           SELECT c.description FROM role_claims rc JOIN claims c ON c.id = rc.claim_id
           WHERE rc.role_id = u.role_id AND c.active
           UNION ALL  -- a claim both of the role and the user's own comes twice; Principal.claims is a set
           SELECT c.description FROM user_claims uc JOIN claims c ON c.id = uc.claim_id
           WHERE uc.user_id = u.id AND c.active
       ) AS claims
FROM sessions s
JOIN users u ON u.id = s.user_id AND u.active
JOIN roles r ON r.id = u.role_id;

-- A bid inserts into every index of bids: one index for "has this bidder bid on this product" (place_bid's
-- distinct-bidder count) and "this user's bids" (withdrawal) instead of two, one index insertion less per bid
-- (docs/performance.md, "The bid, statement by statement").
CREATE INDEX bids_bidder_product_idx ON bids (bidder_id, product_id);
DROP INDEX bids_product_bidder_idx;
DROP INDEX bids_bidder_idx;
