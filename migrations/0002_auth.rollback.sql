DROP TABLE rate_limits;
DROP TABLE password_resets;
DROP TABLE sessions;
