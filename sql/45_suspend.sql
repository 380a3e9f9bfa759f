\set SHOW_CONTEXT never
-- suspend_orchestration / resume_orchestration (API.md 8.1): a suspended
-- instance runs no turn; events, timers and activity results that arrive
-- meanwhile wait in the queue and are processed in order after the resume;
-- cancel and delete(force) work on it; wait_for_orchestration keeps waiting;
-- the reasons are recorded in duroxide.suspensions; another role can neither
-- suspend, resume nor see the owner's instances.
CREATE SCHEMA sr;
GRANT USAGE ON SCHEMA sr TO PUBLIC;

-- two events of one name, then a timer (input: ms, default 10), then an
-- activity: the output shows the order
CREATE FUNCTION sr.two_events(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a jsonb;
    b jsonb;
BEGIN
    a := duroxide.wait_for_event(ctx, 'x');
    b := duroxide.wait_for_event(ctx, 'x');
    PERFORM duroxide.sleep(ctx, coalesce((input->>'ms')::bigint, 10));
    RETURN jsonb_build_array(a, b, duroxide.call_activity(ctx, 'SrEcho', '"echoed"'));
END $$;
SELECT duroxide.register_activity('SrEcho', 'regress.echo');
SELECT duroxide.register_orchestration('SrTwoEvents', 'sr.two_events');

-- an activity that blocks while the test session holds advisory lock 4501
CREATE FUNCTION sr.gate(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(4501); RETURN '"through"'; END $$;
CREATE FUNCTION sr.gated(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'SrGate'); END $$;
SELECT duroxide.register_activity('SrGate', 'sr.gate');
SELECT duroxide.register_orchestration('SrGated', 'sr.gated');

-- a parent waiting for a child that waits for an event
CREATE FUNCTION sr.waiter(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.wait_for_event(ctx, 'go'); END $$;
CREATE FUNCTION sr.parent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_sub_orchestration(ctx, 'SrWaiter', NULL, ctx.instance_id || '-child');
END $$;
SELECT duroxide.register_orchestration('SrWaiter', 'sr.waiter');
SELECT duroxide.register_orchestration('SrParent', 'sr.parent');

-- the queue and history of an instance, in short
CREATE FUNCTION sr.state(p_id text) RETURNS TABLE (status text, history bigint, queued text)
LANGUAGE sql AS $$
    SELECT (duroxide.get_orchestration_status(p_id)).status,
           (SELECT count(*) FROM duroxide.history h WHERE h.instance_id = p_id),
           (SELECT string_agg(q.kind, ',' ORDER BY q.id) FROM duroxide.orchestrator_queue q
             WHERE q.instance_id = p_id)
$$;

-- wait_for_orchestration on a suspended instance: it keeps waiting (times
-- out); the dispatchers had that long to run a turn they must not run
CREATE FUNCTION sr.still_waiting(p_id text, p_ms bigint DEFAULT 400) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.wait_for_orchestration(p_id, p_ms);
    RETURN 'returned';
EXCEPTION WHEN SQLSTATE 'DX004' THEN
    RETURN 'still waiting';
END $$;

-- wait (bounded) until some backend waits for advisory lock 4501
CREATE PROCEDURE sr.wait_gate_blocked()
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        IF EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objid = 4501 AND NOT l.granted) THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'the gated activity never started';
END $$;

-- wait (bounded) until a message of a kind is queued for an instance
CREATE PROCEDURE sr.wait_queued(p_id text, p_kind text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        IF EXISTS (SELECT 1 FROM duroxide.orchestrator_queue q WHERE q.instance_id = p_id AND q.kind = p_kind) THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'no % was queued for %', p_kind, p_id;
END $$;

-- section: suspended before its first turn, in the starting transaction:
-- no turn at all; the events raised meanwhile wait and keep their order
BEGIN;
SELECT duroxide.start_orchestration('sr-1', 'SrTwoEvents');
SELECT duroxide.suspend_orchestration('sr-1', 'maintenance window');
COMMIT;
SELECT duroxide.raise_event('sr-1', 'x', '1');
SELECT duroxide.raise_event('sr-1', 'x', '2');
SELECT sr.still_waiting('sr-1');
SELECT * FROM sr.state('sr-1');
SELECT duroxide.get_system_metrics() -> 'suspended_instances' AS suspended_instances;
SELECT instance_id, status FROM duroxide.instance_list WHERE instance_id = 'sr-1';
-- suspending again is ignored (one suspension recorded)
SELECT duroxide.suspend_orchestration('sr-1', 'again');
SELECT instance_id, suspended_by, suspend_reason, resumed_at IS NULL AS open
  FROM duroxide.suspensions WHERE instance_id = 'sr-1';
SELECT duroxide.resume_orchestration('sr-1', 'window over');
SELECT status, output FROM duroxide.wait_for_orchestration('sr-1', 30000);
SELECT suspend_reason, resumed_by, resume_reason, resumed_at >= suspended_at AS ordered
  FROM duroxide.suspensions WHERE instance_id = 'sr-1';
-- resuming a terminal instance, suspending it: ignored
SELECT duroxide.resume_orchestration('sr-1');
SELECT duroxide.suspend_orchestration('sr-1');
SELECT status FROM duroxide.get_orchestration_status('sr-1');
SELECT count(*) AS suspensions FROM duroxide.suspensions WHERE instance_id = 'sr-1';

-- section: suspended while waiting; a timer fires meanwhile and waits too
-- (3 s: the suspend comes first)
SELECT duroxide.start_orchestration('sr-2', 'SrTwoEvents', '{"ms": 3000}');
SELECT duroxide.raise_event('sr-2', 'x', '"a"');
SELECT duroxide.raise_event('sr-2', 'x', '"b"');
CALL regress.wait_for_event_type('sr-2', 'TimerCreated');
SELECT duroxide.suspend_orchestration('sr-2');
CALL sr.wait_queued('sr-2', 'TimerFired');
SELECT sr.still_waiting('sr-2');
SELECT status, queued FROM sr.state('sr-2');
SELECT count(*) FILTER (WHERE event_type = 'TimerFired') AS timers_fired,
       count(*) FILTER (WHERE event_type = 'ActivityScheduled') AS activities
  FROM duroxide.get_history('sr-2');
-- resuming a running instance is ignored: the first resume does it
SELECT duroxide.resume_orchestration('sr-2');
SELECT duroxide.resume_orchestration('sr-2');
SELECT status, output FROM duroxide.wait_for_orchestration('sr-2', 30000);

-- section: an activity that runs when the instance is suspended finishes;
-- its result waits until the resume
SELECT pg_advisory_lock(4501);
SELECT duroxide.start_orchestration('sr-3', 'SrGated');
CALL sr.wait_gate_blocked();
SELECT duroxide.suspend_orchestration('sr-3', 'hold the result');
SELECT pg_advisory_unlock(4501);
CALL sr.wait_queued('sr-3', 'ActivityCompleted');
SELECT sr.still_waiting('sr-3');
SELECT status, queued FROM sr.state('sr-3');
SELECT duroxide.resume_orchestration('sr-3');
SELECT status, output FROM duroxide.wait_for_orchestration('sr-3', 30000);

-- section: cancel ends a suspended instance (it resumes it to cancel it),
-- and a suspended child of a cancelled parent
SELECT duroxide.start_orchestration('sr-4', 'SrWaiter');
CALL regress.wait_for_event_type('sr-4', 'EventSubscribed');
SELECT duroxide.suspend_orchestration('sr-4', 'before cancel');
SELECT duroxide.cancel_orchestration('sr-4', 'not needed');
SELECT status, error FROM duroxide.wait_for_orchestration('sr-4', 30000);
SELECT suspend_reason, resume_reason FROM duroxide.suspensions WHERE instance_id = 'sr-4';

SELECT duroxide.start_orchestration('sr-5', 'SrParent');
CALL regress.wait_for_event_type('sr-5-child', 'EventSubscribed');
SELECT duroxide.suspend_orchestration('sr-5-child');
SELECT duroxide.suspend_orchestration('sr-5');
SELECT duroxide.cancel_orchestration('sr-5', 'whole tree');
SELECT status, error FROM duroxide.wait_for_orchestration('sr-5', 30000);
SELECT status, error FROM duroxide.wait_for_orchestration('sr-5-child', 30000);

-- a child suspended on its own while its parent is cancelled: the
-- cancellation reaches it, and ends it after its resume
SELECT duroxide.start_orchestration('sr-6', 'SrParent');
CALL regress.wait_for_event_type('sr-6-child', 'EventSubscribed');
SELECT duroxide.suspend_orchestration('sr-6-child');
SELECT duroxide.cancel_orchestration('sr-6-child', 'direct');
SELECT status FROM duroxide.wait_for_orchestration('sr-6-child', 30000);
SELECT status FROM duroxide.wait_for_orchestration('sr-6', 30000);

-- section: delete_instance refuses a suspended instance unless force
SELECT duroxide.start_orchestration('sr-7', 'SrWaiter');
SELECT duroxide.suspend_orchestration('sr-7');
SELECT duroxide.delete_instance('sr-7');
SELECT duroxide.delete_instance('sr-7', true);
SELECT * FROM sr.state('sr-7');
SELECT count(*) AS suspensions FROM duroxide.suspensions WHERE instance_id = 'sr-7';

-- section: errors
SELECT duroxide.suspend_orchestration('sr-missing');
SELECT duroxide.resume_orchestration('sr-missing', 'x');
SELECT duroxide.suspend_orchestration(NULL);
SELECT duroxide.resume_orchestration('');
SELECT duroxide.suspend_orchestration('sr-1', repeat('r', 5000));

-- section: another role can neither suspend, resume, nor see the owner's instances
CREATE ROLE dx_sr_owner LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_sr_attacker LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_sr_admin LOGIN IN ROLE duroxide_admin;
ALTER FUNCTION sr.waiter OWNER TO dx_sr_owner;
SET ROLE dx_sr_owner;
SELECT duroxide.register_orchestration('SrOwnedWaiter', 'sr.waiter');
SELECT duroxide.start_orchestration('sr-owned-1', 'SrOwnedWaiter');
SELECT duroxide.start_orchestration('sr-owned-2', 'SrOwnedWaiter');
SELECT duroxide.suspend_orchestration('sr-owned-2', 'owner says so');
RESET ROLE;
SET ROLE dx_sr_attacker;
SELECT duroxide.suspend_orchestration('sr-owned-1', 'attack');
SELECT duroxide.resume_orchestration('sr-owned-2', 'attack');
SELECT count(*) AS seen FROM duroxide.suspensions;
SELECT count(*) AS seen FROM duroxide.instances WHERE instance_id LIKE 'sr-owned-%';
INSERT INTO duroxide.suspensions (instance_id, suspended_by) VALUES ('sr-owned-1', 'dx_sr_attacker');
UPDATE duroxide.instances SET status = 'Suspended' WHERE instance_id = 'sr-owned-1';
UPDATE duroxide.suspensions SET resume_reason = 'forged';
RESET ROLE;
SELECT instance_id, status FROM duroxide.instances WHERE instance_id LIKE 'sr-owned-%' ORDER BY 1;
-- an admin may
SET ROLE dx_sr_admin;
SELECT duroxide.resume_orchestration('sr-owned-2', 'admin');
SELECT instance_id, suspended_by, resumed_by, resume_reason FROM duroxide.suspensions
 WHERE instance_id = 'sr-owned-2';
RESET ROLE;
SET ROLE dx_sr_owner;
SELECT duroxide.raise_event('sr-owned-1', 'go', '1');
SELECT duroxide.raise_event('sr-owned-2', 'go', '2');
SELECT status, output FROM duroxide.wait_for_orchestration('sr-owned-1', 30000);
SELECT status, output FROM duroxide.wait_for_orchestration('sr-owned-2', 30000);
RESET ROLE;

-- section: cleanup
SELECT duroxide.delete_instance(id, true)
  FROM unnest(ARRAY['sr-1', 'sr-2', 'sr-3', 'sr-4', 'sr-5', 'sr-6', 'sr-owned-1', 'sr-owned-2']) id;
SELECT count(*) AS left_over FROM duroxide.suspensions;
SELECT duroxide.unregister_orchestration(n)
  FROM unnest(ARRAY['SrTwoEvents', 'SrGated', 'SrWaiter', 'SrParent', 'SrOwnedWaiter']) n;
SELECT duroxide.unregister_activity(n) FROM unnest(ARRAY['SrEcho', 'SrGate']) n;
DROP SCHEMA sr CASCADE;
DROP ROLE dx_sr_owner;
DROP ROLE dx_sr_attacker;
DROP ROLE dx_sr_admin;
