-- 01_registration: register_orchestration / register_activity /
-- unregister_*, and their errors.
\set SHOW_CONTEXT never
CREATE SCHEMA reg;
SET search_path = reg, public;

CREATE FUNCTION reg.orch_a(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN '"a"'; END $$;
CREATE FUNCTION reg.orch_b(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN '"b"'; END $$;
CREATE FUNCTION reg.act_a(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN '"act a"'; END $$;
CREATE FUNCTION reg.act_b(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN '"act b"'; END $$;
CREATE PROCEDURE reg.act_proc(ctx duroxide.activity_context, INOUT result jsonb)
LANGUAGE plpgsql AS $$ BEGIN result := '"proc"'; END $$;
-- wrong signatures
CREATE FUNCTION reg.wrong_args(input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
CREATE FUNCTION reg.wrong_ret(ctx duroxide.context, input jsonb) RETURNS text
LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION reg.wrong_ctx(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
CREATE FUNCTION reg.wrong_setof(ctx duroxide.context, input jsonb) RETURNS SETOF jsonb
LANGUAGE sql AS $$ SELECT input $$;
CREATE PROCEDURE reg.wrong_proc(ctx duroxide.activity_context, input jsonb)
LANGUAGE plpgsql AS $$ BEGIN END $$;

-- section: register orchestrations and activities
SELECT duroxide.register_orchestration('RegA', 'reg.orch_a');
SELECT duroxide.register_orchestration('RegA', 'reg.orch_a', '1.0.9');
SELECT duroxide.register_orchestration('RegA', 'reg.orch_b', '1.0.10');
SELECT duroxide.register_activity('RegActA', 'reg.act_a');
SELECT duroxide.register_activity('RegActProc', 'reg.act_proc');

SELECT name, version, version_key, fn FROM duroxide.orchestrations
 WHERE name = 'RegA' ORDER BY version_key;
SELECT name, fn, is_procedure FROM duroxide.activities
 WHERE name LIKE 'RegAct%' ORDER BY name;

-- section: the highest version wins (1.0.10 > 1.0.9 > 1.0.0)
SELECT duroxide._resolve_version('RegA', NULL);
SELECT duroxide._resolve_version('RegA', '1.0.9');

-- section: re-registering replaces
SELECT duroxide.register_orchestration('RegA', 'reg.orch_b', '1.0.0');
SELECT duroxide.register_activity('RegActA', 'reg.act_b');
SELECT name, version, fn FROM duroxide.orchestrations
 WHERE name = 'RegA' AND version = '1.0.0';
SELECT name, fn FROM duroxide.activities WHERE name = 'RegActA';
SELECT count(*) FROM duroxide.orchestrations WHERE name = 'RegA';
SELECT count(*) FROM duroxide.activities WHERE name = 'RegActA';

-- section: NULL and empty names
SELECT duroxide.register_orchestration(NULL, 'reg.orch_a');
SELECT duroxide.register_orchestration('', 'reg.orch_a');
SELECT duroxide.register_orchestration('RegNull', NULL);
SELECT duroxide.register_activity(NULL, 'reg.act_a');
SELECT duroxide.register_activity('', 'reg.act_a');
SELECT duroxide.register_activity('RegNull', NULL);

-- section: wrong signatures name the expected one
SELECT duroxide.register_orchestration('RegBad', 'reg.wrong_args');
SELECT duroxide.register_orchestration('RegBad', 'reg.wrong_ret');
SELECT duroxide.register_orchestration('RegBad', 'reg.wrong_ctx');
SELECT duroxide.register_orchestration('RegBad', 'reg.wrong_setof');
SELECT duroxide.register_orchestration('RegBad', 'reg.act_proc');
SELECT duroxide.register_activity('RegBad', 'reg.orch_a');
SELECT duroxide.register_activity('RegBad', 'reg.wrong_args');
SELECT duroxide.register_activity('RegBad', 'reg.wrong_proc');
SELECT count(*) FROM duroxide.orchestrations WHERE name = 'RegBad';
SELECT count(*) FROM duroxide.activities WHERE name = 'RegBad';

-- section: a function that does not exist (the regproc cast fails)
SELECT duroxide.register_orchestration('RegMissing', 'reg.no_such_function');
SELECT duroxide.register_activity('RegMissing', 'reg.no_such_function');

-- section: invalid version strings
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', 'abc');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', '1.0.x');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', 'v1.0.0');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', '1..0');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', '-1.0.0');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', '1.0.0 ');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', '1.2.3.4.5');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', '');
SELECT duroxide.register_orchestration('RegV', 'reg.orch_a', NULL);
SELECT count(*) FROM duroxide.orchestrations WHERE name = 'RegV';

-- section: unregister one version, then all versions
SELECT duroxide.unregister_orchestration('RegA', '1.0.9');
SELECT version FROM duroxide.orchestrations WHERE name = 'RegA' ORDER BY version_key;
SELECT duroxide.unregister_orchestration('RegA');
SELECT count(*) FROM duroxide.orchestrations WHERE name = 'RegA';
SELECT duroxide.unregister_activity('RegActA');
SELECT duroxide.unregister_activity('RegActProc');
SELECT count(*) FROM duroxide.activities WHERE name LIKE 'RegAct%';

-- section: unregistering what is not registered
SELECT duroxide.unregister_orchestration('RegA');
SELECT duroxide.unregister_orchestration('RegNever', '1.0.0');
SELECT duroxide.unregister_activity('RegActA');
SELECT duroxide.unregister_activity('RegNever');

-- section: starting an unregistered orchestration fails at once
SELECT duroxide.start_orchestration('reg-1', 'RegA');
SELECT status FROM duroxide.get_orchestration_status('reg-1');

-- section: a replaced registration takes effect for the next run
CREATE FUNCTION reg.runner(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'RegRunAct'); END $$;
SELECT duroxide.register_orchestration('RegRunner', 'reg.runner');
SELECT duroxide.register_activity('RegRunAct', 'reg.act_a');
SELECT duroxide.start_orchestration('reg-run-1', 'RegRunner');
SELECT status, output FROM duroxide.wait_for_orchestration('reg-run-1');
SELECT duroxide.register_activity('RegRunAct', 'reg.act_b');
SELECT duroxide.start_orchestration('reg-run-2', 'RegRunner');
SELECT status, output FROM duroxide.wait_for_orchestration('reg-run-2');
SELECT duroxide.register_activity('RegRunAct', 'reg.act_proc');
SELECT duroxide.start_orchestration('reg-run-3', 'RegRunner');
SELECT status, output FROM duroxide.wait_for_orchestration('reg-run-3');
-- a new version of the orchestration is used by new instances
SELECT duroxide.register_orchestration('RegRunner', 'reg.orch_b', '1.1.0');
SELECT duroxide.start_orchestration('reg-run-4', 'RegRunner');
SELECT orchestration_version, status, output FROM duroxide.wait_for_orchestration('reg-run-4');
-- unregistered: new instances cannot start
SELECT duroxide.unregister_orchestration('RegRunner');
SELECT duroxide.start_orchestration('reg-run-5', 'RegRunner');

RESET search_path;
