DROP TRIGGER users_deleted_forget_reseller_cpf ON users;
DROP FUNCTION resellers_forget_cpf();
DROP TABLE auto_approved_cpfs;
DROP TABLE cashback_tiers;
DROP TABLE purchases;
DROP TABLE resellers;
