DROP TRIGGER users_last_administrator_delete ON users;
DROP TRIGGER users_last_administrator_update ON users;
DROP FUNCTION users_keep_an_administrador();
ALTER TABLE users DROP COLUMN active;
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;
UPDATE users SET active = (state = 'active');
ALTER TABLE users DROP COLUMN state;
