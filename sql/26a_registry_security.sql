-- 26a_registry_security: a hostile duroxide_user cannot write the registry
-- tables, take over or remove another role's registrations, or call the
-- registry's internal helpers; the victim's instances complete.
\set SHOW_CONTEXT never
CREATE ROLE dx26_victim LOGIN IN ROLE duroxide_user;
CREATE ROLE dx26_attacker LOGIN IN ROLE duroxide_user;
CREATE ROLE dx26_outsider LOGIN;
CREATE ROLE dx26_admin LOGIN IN ROLE duroxide_admin;
CREATE SCHEMA sec26 AUTHORIZATION dx26_victim;
CREATE SCHEMA evil26 AUTHORIZATION dx26_attacker;
GRANT USAGE ON SCHEMA sec26 TO PUBLIC;

SET ROLE dx26_victim;
CREATE FUNCTION sec26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('event', duroxide.wait_for_event(ctx, 'go'),
                              'activity', duroxide.call_activity(ctx, 'Sec26Act', input));
END $$;
CREATE FUNCTION sec26.act(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('victim_activity', input, 'as', current_user::text) $$;
SELECT duroxide.register_orchestration('Sec26Orch', 'sec26.orch');
SELECT duroxide.register_activity('Sec26Act', 'sec26.act');
SELECT duroxide.start_orchestration('sec26-1', 'Sec26Orch', '"one"');
SELECT duroxide.start_orchestration('sec26-2', 'Sec26Orch', '"two"');
RESET ROLE;

SET ROLE dx26_attacker;
CREATE FUNCTION evil26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"hijacked"'::jsonb $$;
CREATE FUNCTION evil26.act(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"hijacked"'::jsonb $$;

-- section: direct writes to the registry tables are refused
INSERT INTO duroxide.orchestrations (name, version, version_key, fn, owner)
VALUES ('Sec26Evil', '1.0.0', '{1,0,0}', 'evil26.orch(duroxide.context,pg_catalog.jsonb)', 'dx26_attacker');
INSERT INTO duroxide.activities (name, fn, is_procedure, owner)
VALUES ('Sec26Evil', 'evil26.act(duroxide.activity_context,pg_catalog.jsonb)', false, 'dx26_attacker');
UPDATE duroxide.orchestrations SET fn = 'evil26.orch(duroxide.context,pg_catalog.jsonb)' WHERE name = 'Sec26Orch';
UPDATE duroxide.activities SET fn = 'evil26.act(duroxide.activity_context,pg_catalog.jsonb)' WHERE name = 'Sec26Act';
UPDATE duroxide.orchestrations SET owner = 'dx26_attacker' WHERE name = 'Sec26Orch';
DELETE FROM duroxide.orchestrations WHERE name = 'Sec26Orch';
DELETE FROM duroxide.activities WHERE name = 'Sec26Act';
TRUNCATE duroxide.orchestrations;
TRUNCATE duroxide.activities;

-- section: another role's registrations can be neither replaced nor removed
SELECT duroxide.register_orchestration('Sec26Orch', 'evil26.orch');
SELECT duroxide.register_activity('Sec26Act', 'evil26.act');
SELECT duroxide.unregister_orchestration('Sec26Orch');
SELECT duroxide.unregister_orchestration('Sec26Orch', '1.0.0');
SELECT duroxide.unregister_activity('Sec26Act');
-- nor can a new version be added under the victim's name: new instances
-- would run the attacker's code with the victim's input
SELECT duroxide.register_orchestration('Sec26Orch', 'evil26.orch', '9.0.0');

-- section: the registry's internal helpers are not the attacker's
SELECT duroxide._resolve_version('Sec26Orch', NULL);
SELECT duroxide._registered_drop();
SELECT duroxide._registry_changed();
-- the attacker sees registrations (they are public), nothing more
SELECT name, version, owner FROM duroxide.orchestrations WHERE name LIKE 'Sec26%' ORDER BY 1, 2;
RESET ROLE;

-- section: a role without duroxide_user cannot register
SET ROLE dx26_outsider;
SELECT duroxide.register_orchestration('Sec26Outsider', 'sec26.orch');
SELECT duroxide.register_activity('Sec26Outsider', 'sec26.act');
SELECT duroxide.unregister_activity('Sec26Act');
RESET ROLE;

-- section: registering the victim's function under the attacker's name does
-- not pin it: the victim's DROP ... CASCADE removes that registration
SET ROLE dx26_victim;
CREATE FUNCTION sec26.spare(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
RESET ROLE;
SET ROLE dx26_attacker;
SELECT duroxide.register_activity('Sec26Pin', 'sec26.spare');
RESET ROLE;
SET ROLE dx26_victim;
DROP FUNCTION sec26.spare(duroxide.activity_context, jsonb);
DROP FUNCTION sec26.spare(duroxide.activity_context, jsonb) CASCADE;
SELECT count(*) AS pin_left FROM duroxide.activities WHERE name = 'Sec26Pin';
RESET ROLE;

-- section: the victim's registrations are untouched and its instances complete
SELECT name, version, fn, owner FROM duroxide.orchestrations WHERE name = 'Sec26Orch' ORDER BY version;
SELECT name, fn, owner FROM duroxide.activities WHERE name = 'Sec26Act';
SET ROLE dx26_victim;
SELECT duroxide.raise_event('sec26-1', 'go', '"e1"');
SELECT duroxide.raise_event('sec26-2', 'go', '"e2"');
SELECT status, output FROM duroxide.wait_for_orchestration('sec26-1', 10000);
SELECT status, output FROM duroxide.wait_for_orchestration('sec26-2', 10000);
RESET ROLE;

-- section: an admin may replace and remove any registration
SET ROLE dx26_admin;
SELECT duroxide.register_orchestration('Sec26Orch', 'sec26.orch', '2.0.0');
SELECT version, owner FROM duroxide.orchestrations WHERE name = 'Sec26Orch' ORDER BY version;
SELECT duroxide.register_activity('Sec26Act', 'sec26.act');
SELECT name, owner FROM duroxide.activities WHERE name = 'Sec26Act';
SELECT duroxide.unregister_activity('Sec26Act');
SELECT duroxide.unregister_orchestration('Sec26Orch');
RESET ROLE;

-- section: clean up
SET client_min_messages = warning;
DROP SCHEMA sec26 CASCADE;
DROP SCHEMA evil26 CASCADE;
SELECT count(*) AS registrations_left FROM duroxide.orchestrations o WHERE o.name LIKE 'Sec26%';
SELECT duroxide.delete_instance(id) FROM unnest(ARRAY['sec26-1', 'sec26-2']) id;
DROP ROLE dx26_victim, dx26_attacker, dx26_outsider, dx26_admin;
RESET client_min_messages;
