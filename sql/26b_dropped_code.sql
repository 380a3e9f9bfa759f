-- 26b_dropped_code: a registration depends on its function.  DROP of a
-- registered function is refused with a hint; DROP ... CASCADE (of the
-- function or its schema) unregisters it; DROP OWNED BY removes the role's
-- registrations.  A function that is missing at run time anyway (dropped
-- with the check disabled, renamed, not restored) fails the instance or the
-- attempt with an error naming both; nothing crashes.
\set SHOW_CONTEXT never
CREATE SCHEMA drop26;

-- an orchestration that waits for "go", then calls the activity input->>'act'
-- with a retry policy input->'retry'
CREATE FUNCTION drop26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.wait_for_event(ctx, 'go');
    RETURN duroxide.call_activity_with_retry(ctx, input->>'act', input->'in',
                                             coalesce(input->'retry', '{"maxAttempts": 1}'));
END $$;
-- a procedure activity that fails its first attempt when input->>'fail_first'
CREATE PROCEDURE drop26.proc(ctx duroxide.activity_context, INOUT result jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    IF result ? 'fail_first' AND ctx.attempt = 1 THEN
        RAISE EXCEPTION 'first attempt fails';
    END IF;
    result := jsonb_build_object('proc', result, 'attempt', ctx.attempt);
END $$;
SELECT duroxide.register_orchestration('Drop26Orch', 'drop26.orch');
SELECT duroxide.register_activity('Drop26Proc', 'drop26.proc');

-- section: DROP PROCEDURE of a registered activity is refused; the instance
-- that is about to call it completes
SELECT duroxide.start_orchestration('drop26-1', 'Drop26Orch', '{"act": "Drop26Proc", "in": {"n": 1}}');
DROP PROCEDURE drop26.proc;
DROP SCHEMA drop26;
SELECT duroxide.raise_event('drop26-1', 'go');
SELECT status, output FROM duroxide.wait_for_orchestration('drop26-1', 10000);

-- section: the procedure is dropped (the check disabled) while its retry
-- is queued: the attempt fails with a clear error, no crash
SELECT duroxide.start_orchestration('drop26-2', 'Drop26Orch',
    '{"act": "Drop26Proc", "in": {"fail_first": true},
      "retry": {"maxAttempts": 2, "backoff": "fixed", "initialDelayMs": 2000}}');
SELECT duroxide.raise_event('drop26-2', 'go');
CALL regress.wait_for_event_type('drop26-2', 'ActivityAttemptFailed');
ALTER EVENT TRIGGER duroxide_registered_drop DISABLE;
DROP PROCEDURE drop26.proc;
ALTER EVENT TRIGGER duroxide_registered_drop ENABLE;
SELECT status, error FROM duroxide.wait_for_orchestration('drop26-2', 10000);
SELECT data->>'error' AS attempt_errors FROM duroxide.get_history('drop26-2')
 WHERE event_type IN ('ActivityAttemptFailed', 'ActivityFailed') ORDER BY event_id;
-- created again under the same identity, it runs again
CREATE PROCEDURE drop26.proc(ctx duroxide.activity_context, INOUT result jsonb)
LANGUAGE plpgsql AS $$ BEGIN result := jsonb_build_object('again', result); END $$;
SELECT duroxide.start_orchestration('drop26-3', 'Drop26Orch', '{"act": "Drop26Proc", "in": 3}');
SELECT duroxide.raise_event('drop26-3', 'go');
SELECT status, output FROM duroxide.wait_for_orchestration('drop26-3', 10000);

-- section: DROP FUNCTION of a registered orchestration with a running
-- instance is refused, and the instance completes
SELECT duroxide.start_orchestration('drop26-4', 'Drop26Orch', '{"act": "Drop26Proc", "in": 4}');
CALL regress.wait_for_event_type('drop26-4', 'OrchestrationStarted');
DROP FUNCTION drop26.orch;
SELECT duroxide.raise_event('drop26-4', 'go');
SELECT status, output FROM duroxide.wait_for_orchestration('drop26-4', 10000);

-- section: dropped anyway (the check disabled): its running instance fails
-- with an error naming the orchestration and the function
SELECT duroxide.start_orchestration('drop26-5', 'Drop26Orch', '{"act": "Drop26Proc", "in": 5}');
CALL regress.wait_for_event_type('drop26-5', 'OrchestrationStarted');
ALTER EVENT TRIGGER duroxide_registered_drop DISABLE;
DROP FUNCTION drop26.orch;
ALTER EVENT TRIGGER duroxide_registered_drop ENABLE;
SELECT duroxide.raise_event('drop26-5', 'go');
SELECT status, error FROM duroxide.wait_for_orchestration('drop26-5', 10000);
-- and a new instance fails the same way
SELECT duroxide.start_orchestration('drop26-6', 'Drop26Orch', '{"act": "Drop26Proc"}');
SELECT status, error FROM duroxide.wait_for_orchestration('drop26-6', 10000);

-- section: DROP ... CASCADE unregisters
CREATE FUNCTION drop26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.wait_for_event(ctx, 'go');
    RETURN duroxide.call_activity(ctx, input->>'act', input->'in');
END $$;
SELECT duroxide.start_orchestration('drop26-7', 'Drop26Orch', '{"act": "Drop26Proc", "in": 7}');
CALL regress.wait_for_event_type('drop26-7', 'OrchestrationStarted');
DROP FUNCTION drop26.orch CASCADE;
SELECT count(*) AS registered FROM duroxide.orchestrations WHERE name = 'Drop26Orch';
SELECT duroxide.raise_event('drop26-7', 'go');
SELECT status, error FROM duroxide.wait_for_orchestration('drop26-7', 10000);

-- section: DROP SCHEMA ... CASCADE of the schema that holds registered
-- functions unregisters them all
CREATE FUNCTION drop26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('Drop26Orch', 'drop26.orch');
SELECT duroxide.register_orchestration('Drop26Orch', 'drop26.orch', '2.0.0');
SELECT name, version, fn FROM duroxide.orchestrations WHERE name LIKE 'Drop26%'
UNION ALL
SELECT name, NULL, fn FROM duroxide.activities WHERE name LIKE 'Drop26%' ORDER BY 1, 2;
SET client_min_messages = notice;
DROP SCHEMA drop26 CASCADE;
SELECT count(*) AS registrations_left FROM duroxide.orchestrations WHERE name LIKE 'Drop26%';
SELECT count(*) AS registrations_left FROM duroxide.activities WHERE name LIKE 'Drop26%';

-- section: DROP OWNED BY removes the role's registrations with its
-- functions; then DROP ROLE leaves nothing behind
CREATE ROLE dx26_leaver IN ROLE duroxide_user;
CREATE SCHEMA leave26 AUTHORIZATION dx26_leaver;
CREATE FUNCTION public.drop26_shared(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SET ROLE dx26_leaver;
CREATE FUNCTION leave26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('Drop26Leaver', 'leave26.orch');
-- a registration of a function the role does not own is the role's too
SELECT duroxide.register_activity('Drop26LeaverAct', 'public.drop26_shared');
RESET ROLE;
DROP OWNED BY dx26_leaver;
SELECT count(*) AS registrations_left FROM duroxide.orchestrations WHERE name LIKE 'Drop26Leaver%';
SELECT count(*) AS registrations_left FROM duroxide.activities WHERE name LIKE 'Drop26Leaver%';
DROP ROLE dx26_leaver;

-- section: DROP ROLE without DROP OWNED: the orphaned registration fails
-- its instances with a clear error
CREATE ROLE dx26_gone IN ROLE duroxide_user;
CREATE FUNCTION public.drop26_orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SET ROLE dx26_gone;
SELECT duroxide.register_orchestration('Drop26Gone', 'public.drop26_orch');
RESET ROLE;
DROP ROLE dx26_gone;
SELECT duroxide.start_orchestration('drop26-8', 'Drop26Gone', '8');
SELECT status, regexp_replace(error, 'OID [0-9]+', 'OID N') AS error FROM duroxide.wait_for_orchestration('drop26-8', 10000);
SELECT duroxide.unregister_orchestration('Drop26Gone');
RESET client_min_messages;
DROP FUNCTION public.drop26_orch, public.drop26_shared;
