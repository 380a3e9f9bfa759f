/*
 * duroxide--0.1.0--0.2.0.sql
 *		Upgrade script from 0.1.0 to 0.2.0 (ALTER EXTENSION duroxide UPDATE).
 *
 * Every change to src/duroxide--0.2.0.sql has its counterpart here, in the
 * same order, so that a fresh install of 0.2.0 and 0.1.0 plus this script
 * give the same catalog.  Running instances, history and queues are kept.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION duroxide UPDATE TO '0.2.0'" to load this file. \quit

-- registry: function identities as text, registration in C, drops of registered functions
--
-- fn regproc blocks pg_upgrade, breaks restores of overloaded names and keeps
-- no dependency.  It becomes the function's identity text (what
-- pg_identify_object reports: schema-qualified name and argument types);
-- the column keeps its position.  A registration whose function was already
-- dropped has no identity left: it is removed, with a warning.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT 'orchestration' AS kind, o.name, ' version ' || o.version AS version, o.fn::pg_catalog.oid AS fn
               FROM duroxide.orchestrations o
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = o.fn::pg_catalog.oid)
             UNION ALL
             SELECT 'activity', a.name, '', a.fn::pg_catalog.oid
               FROM duroxide.activities a
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = a.fn::pg_catalog.oid)
    LOOP
        RAISE WARNING 'duroxide: % "%"% is unregistered: its function (OID %) no longer exists',
            r.kind, r.name, r.version, r.fn;
        IF r.kind = 'orchestration' THEN
            DELETE FROM duroxide.orchestrations o
             WHERE o.name = r.name AND o.fn::pg_catalog.oid = r.fn;
        ELSE
            DELETE FROM duroxide.activities a WHERE a.name = r.name;
        END IF;
    END LOOP;
END
$$;
ALTER TABLE duroxide.orchestrations ALTER COLUMN fn TYPE text
    USING (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, fn::pg_catalog.oid, 0)).identity;
ALTER TABLE duroxide.activities ALTER COLUMN fn TYPE text
    USING (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, fn::pg_catalog.oid, 0)).identity;

-- internal helpers: not executable by PUBLIC
REVOKE ALL ON FUNCTION duroxide._registry_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._resolve_version(text, text) FROM PUBLIC;

-- the registration functions are C (src/registration.c); the signature check is theirs
DROP FUNCTION duroxide._check_signature(text, regproc, regtype, boolean);
CREATE OR REPLACE FUNCTION duroxide.register_orchestration(name text, fn regproc, version text DEFAULT '1.0.0')
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_register_orchestration' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.register_activity(name text, fn regproc) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_register_activity' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.unregister_orchestration(name text, version text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_unregister_orchestration' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.unregister_activity(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_unregister_activity' LANGUAGE C;

-- a registration depends on its function
CREATE FUNCTION duroxide._registered_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'duroxide_registered_drop' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._registered_drop() FROM PUBLIC;
CREATE EVENT TRIGGER duroxide_registered_drop ON sql_drop
    EXECUTE FUNCTION duroxide._registered_drop();
CREATE EVENT TRIGGER duroxide_registered_drop_owned ON ddl_command_end
    WHEN TAG IN ('DROP OWNED')
    EXECUTE FUNCTION duroxide._registered_drop();

-- registrations are written only by the registration functions (engine rights)
REVOKE INSERT, UPDATE, DELETE ON duroxide.orchestrations, duroxide.activities FROM duroxide_user;
