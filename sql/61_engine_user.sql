-- 61_engine_user: who may use the engine is decided in one place
-- (DxIsEngineUser, src/util.c) with has_privs_of_role: start_orchestration
-- and the registration functions agree.  A NOINHERIT member of duroxide_user
-- (a hostile or merely careless role) has no rights until it SET ROLEs.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE SCHEMA eu;
GRANT USAGE ON SCHEMA eu TO PUBLIC;
CREATE FUNCTION eu.hello(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"hello"'::jsonb $$;
CREATE FUNCTION eu.echo(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('EuHello', 'eu.hello');

CREATE ROLE dx_eu_inherit LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_eu_noinherit LOGIN NOINHERIT IN ROLE duroxide_user;
CREATE ROLE dx_eu_admin_noinherit LOGIN NOINHERIT IN ROLE duroxide_admin;

-- section: a NOINHERIT member may neither start nor register
SET ROLE dx_eu_noinherit;
SELECT duroxide.start_orchestration('eu-1', 'EuHello', NULL);
SELECT duroxide.register_activity('EuEcho', 'eu.echo');
RESET ROLE;
SET ROLE dx_eu_admin_noinherit;
SELECT duroxide.start_orchestration('eu-2', 'EuHello', NULL);
SELECT duroxide.register_activity('EuEcho', 'eu.echo');
RESET ROLE;

-- section: the same role after SET ROLE duroxide_user may do both
SET ROLE dx_eu_noinherit;
SET ROLE duroxide_user;
SELECT duroxide.start_orchestration('eu-3', 'EuHello', NULL);
RESET ROLE;

-- section: an inheriting member may do both
SET ROLE dx_eu_inherit;
SELECT duroxide.start_orchestration('eu-4', 'EuHello', NULL);
SELECT duroxide.register_activity('EuEcho', 'eu.echo');
RESET ROLE;

-- section: nothing was started for the refused roles
SELECT instance_id, owner::text FROM duroxide.instances WHERE instance_id LIKE 'eu-%' ORDER BY 1;
SELECT status, output FROM duroxide.wait_for_orchestration('eu-3');
SELECT status, output FROM duroxide.wait_for_orchestration('eu-4');

-- cleanup
SELECT duroxide.delete_instance('eu-3', true), duroxide.delete_instance('eu-4', true);
SELECT duroxide.unregister_activity('EuEcho');
DROP ROLE dx_eu_inherit, dx_eu_noinherit, dx_eu_admin_noinherit;
