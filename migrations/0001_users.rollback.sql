DROP TABLE audit_log;
DROP TABLE user_claims;
DROP TABLE users;
DROP TABLE role_claims;
DROP TABLE claims;
DROP TABLE roles;
