\set SHOW_CONTEXT never
-- Many databases: the launcher's internal hook is for the install and
-- upgrade scripts only; duroxide.workers names each worker's database.
CREATE ROLE dx_mdb_user LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_mdb_nobody LOGIN;

-- section: duroxide._extension_created() is not for PUBLIC or duroxide_user
SELECT has_function_privilege('duroxide_user', 'duroxide._extension_created()', 'EXECUTE') AS user_may,
       has_function_privilege('public', 'duroxide._extension_created()', 'EXECUTE') AS public_may;
SET ROLE dx_mdb_user;
SELECT duroxide._extension_created();
RESET ROLE;
SET ROLE dx_mdb_nobody;
SELECT duroxide._extension_created();
RESET ROLE;

-- section: even a superuser calls it only through CREATE / ALTER EXTENSION
SELECT duroxide._extension_created();

-- section: duroxide.workers has the database column last, this database's workers
SELECT attname FROM pg_attribute
 WHERE attrelid = 'duroxide.workers'::regclass AND attnum > 0 ORDER BY attnum;
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT count(*) FROM duroxide.workers WHERE database = current_database()) = 4;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT kind, count(*) FROM duroxide.workers
 WHERE database = current_database() GROUP BY kind ORDER BY kind;
SET ROLE dx_mdb_user;
SELECT count(*) > 0 AS user_sees_workers FROM duroxide.workers WHERE database = current_database();
RESET ROLE;

DROP ROLE dx_mdb_user;
DROP ROLE dx_mdb_nobody;
