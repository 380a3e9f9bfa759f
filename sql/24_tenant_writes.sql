\set SHOW_CONTEXT never
-- Tenant writes: a duroxide_user (the attacker) cannot write the engine's
-- tables, forge a parent or a completion, take over, cancel or see another
-- role's (the victim's) instance through a child id, and every victim
-- instance attacked here still completes normally at the end.
CREATE ROLE dx_tw_attacker LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_tw_victim LOGIN IN ROLE duroxide_user;
CREATE SCHEMA tw;
GRANT USAGE ON SCHEMA tw TO PUBLIC;

-- the victim's code
CREATE FUNCTION tw.victim_wait(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN jsonb_build_object('got', duroxide.wait_for_event(ctx, 'go')); END $$;
-- a long timer against an event: a forged completion must not end the timer
CREATE FUNCTION tw.victim_timer(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[duroxide.schedule_timer(ctx, 3600000),
                                                  duroxide.schedule_wait_for_event(ctx, 'go')]);
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END $$;
-- a parent waiting for its child (input.child: the child's id)
CREATE FUNCTION tw.victim_parent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('child', duroxide.call_sub_orchestration(ctx, 'TwVictimWait', NULL, input->>'child'));
END $$;
-- an activity that blocks until the test session releases advisory lock 2424
CREATE FUNCTION tw.gate(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(2424); RETURN '"through the gate"'; END $$;
CREATE FUNCTION tw.victim_gate(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'TwGate'); END $$;
ALTER FUNCTION tw.victim_wait OWNER TO dx_tw_victim;
ALTER FUNCTION tw.victim_timer OWNER TO dx_tw_victim;
ALTER FUNCTION tw.victim_parent OWNER TO dx_tw_victim;
ALTER FUNCTION tw.gate OWNER TO dx_tw_victim;
ALTER FUNCTION tw.victim_gate OWNER TO dx_tw_victim;

-- the attacker's code
CREATE FUNCTION tw.attack_child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"attacker child"'::jsonb $$;
-- a sub-orchestration with an explicit id (input.id); returns its error
CREATE FUNCTION tw.attack_sub(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('result', duroxide.call_sub_orchestration(ctx, 'TwAttackChild', NULL, input->>'id'));
EXCEPTION WHEN SQLSTATE 'DX002' THEN
    RETURN jsonb_build_object('error', SQLERRM);
END $$;
-- a detached start with an explicit id (input.id); the orchestration goes on
CREATE FUNCTION tw.attack_detached(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.start_orchestration_detached(ctx, 'TwAttackChild', input->>'id');
    RETURN '"went on"';
END $$;
-- a timer that already fired wins an await_any against a child with the
-- victim's id (input.id): the losing child is cancelled
CREATE FUNCTION tw.attack_any(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t duroxide.task;
    r record;
BEGIN
    t := duroxide.schedule_timer(ctx, 0);
    PERFORM duroxide.wait_for_event(ctx, 'proceed');
    SELECT * INTO r FROM duroxide.await_any(ARRAY[t,
        duroxide.schedule_sub_orchestration(ctx, 'TwAttackChild', NULL, input->>'id')]);
    RETURN jsonb_build_object('index', r.index);
END $$;
ALTER FUNCTION tw.attack_child OWNER TO dx_tw_attacker;
ALTER FUNCTION tw.attack_sub OWNER TO dx_tw_attacker;
ALTER FUNCTION tw.attack_detached OWNER TO dx_tw_attacker;
ALTER FUNCTION tw.attack_any OWNER TO dx_tw_attacker;

-- wait (bounded) until a message is gone from the queue (its turn consumed it)
CREATE PROCEDURE tw.wait_consumed(p_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        IF NOT EXISTS (SELECT 1 FROM duroxide.orchestrator_queue q WHERE q.id = p_id) THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'message % was never consumed', p_id;
END
$$;

-- what the victim's instances look like (compared before and after the attacks)
CREATE FUNCTION tw.victim_state() RETURNS TABLE (instance_id text, orchestration_name text, status text,
                                               owner regrole, parent_instance_id text, events bigint)
LANGUAGE sql AS $$
    SELECT i.instance_id, i.orchestration_name, i.status, i.owner, i.parent_instance_id,
           (SELECT count(*) FROM duroxide.history h WHERE h.instance_id = i.instance_id)
      FROM duroxide.instances i WHERE i.owner = 'dx_tw_victim'::regrole ORDER BY 1
$$;

SET ROLE dx_tw_victim;
SELECT duroxide.register_orchestration('TwVictimWait', 'tw.victim_wait');
SELECT duroxide.register_orchestration('TwVictimTimer', 'tw.victim_timer');
SELECT duroxide.register_orchestration('TwVictimParent', 'tw.victim_parent');
SELECT duroxide.register_orchestration('TwVictimGate', 'tw.victim_gate');
SELECT duroxide.register_activity('TwGate', 'tw.gate');
SELECT duroxide.start_orchestration('tw-v-wait', 'TwVictimWait');
SELECT duroxide.start_orchestration('tw-v-detached', 'TwVictimWait');
SELECT duroxide.start_orchestration('tw-v-any', 'TwVictimWait');
SELECT duroxide.start_orchestration('tw-v-timer', 'TwVictimTimer');
SELECT duroxide.start_orchestration('tw-v-parent', 'TwVictimParent', '{"child": "tw-v-child"}');
RESET ROLE;
SET ROLE dx_tw_attacker;
SELECT duroxide.register_orchestration('TwAttackChild', 'tw.attack_child');
SELECT duroxide.register_orchestration('TwAttackSub', 'tw.attack_sub');
SELECT duroxide.register_orchestration('TwAttackDetached', 'tw.attack_detached');
SELECT duroxide.register_orchestration('TwAttackAny', 'tw.attack_any');
RESET ROLE;
CALL regress.wait_for_event_type('tw-v-wait', 'EventSubscribed');
CALL regress.wait_for_event_type('tw-v-detached', 'EventSubscribed');
CALL regress.wait_for_event_type('tw-v-any', 'EventSubscribed');
CALL regress.wait_for_event_type('tw-v-timer', 'EventSubscribed');
CALL regress.wait_for_event_type('tw-v-child', 'EventSubscribed');
CREATE TABLE tw.before AS SELECT * FROM tw.victim_state();
SELECT * FROM tw.before;

-- section: direct writes to every engine table are refused
SET ROLE dx_tw_attacker;
INSERT INTO duroxide.instances (instance_id, orchestration_name, orchestration_version, owner)
VALUES ('tw-a-direct', 'TwAttackChild', '1.0.0', 'dx_tw_attacker');
UPDATE duroxide.instances SET status = 'Completed' WHERE instance_id = 'tw-v-wait';
DELETE FROM duroxide.instances WHERE instance_id = 'tw-v-wait';
INSERT INTO duroxide.executions (instance_id, execution_id, orchestration_version, status)
VALUES ('tw-v-wait', 1, '1.0.0', 'Completed');
UPDATE duroxide.executions SET status = 'Failed';
DELETE FROM duroxide.executions;
INSERT INTO duroxide.history (instance_id, execution_id, event_id, event_type)
VALUES ('tw-v-wait', 1, 100, 'OrchestrationCompleted');
UPDATE duroxide.history SET data = NULL;
DELETE FROM duroxide.history;
INSERT INTO duroxide.orchestrator_queue (instance_id, kind, data)
VALUES ('tw-v-wait', 'EventRaised', '{"name": "go", "data": "forged"}');
UPDATE duroxide.orchestrator_queue SET visible_at = now();
DELETE FROM duroxide.orchestrator_queue;
INSERT INTO duroxide.worker_queue (instance_id, execution_id, activity_id, activity_name,
                                   orchestration_name, orchestration_version)
VALUES ('tw-v-wait', 1, 2, 'TwGate', 'TwVictimWait', '1.0.0');
UPDATE duroxide.worker_queue SET attempt = 1;
DELETE FROM duroxide.worker_queue;
SELECT nextval('duroxide.orchestrator_queue_id_seq');
SELECT nextval('duroxide.worker_queue_id_seq');

-- section: forging a parent is impossible: no table write, no internal helper
INSERT INTO duroxide.instances (instance_id, orchestration_name, orchestration_version, owner,
                                parent_instance_id, parent_execution_id, parent_event_id)
VALUES ('tw-a-forged', 'TwAttackChild', '1.0.0', 'dx_tw_attacker', 'tw-v-parent', 1, 2);
SELECT duroxide._create_instance('tw-a-forged', 'TwAttackChild', '1.0.0', NULL,
                                 'tw-v-parent', 1, 2, 'dx_tw_attacker');
SELECT duroxide._dispatch_batch(0);
SELECT duroxide._activity_batch(0);
SELECT duroxide._c_example_activity(NULL, NULL);

-- section: starting an instance with the victim's id is an error
SELECT duroxide.start_orchestration('tw-v-wait', 'TwAttackChild');
-- the attacker's own id stays idempotent
SELECT duroxide.start_orchestration('tw-a-own', 'TwAttackChild');
SELECT duroxide.start_orchestration('tw-a-own', 'TwAttackChild');
SELECT status, output FROM duroxide.wait_for_orchestration('tw-a-own', 10000);
RESET ROLE;
SET ROLE dx_tw_victim;
SELECT duroxide.start_orchestration('tw-v-wait', 'TwVictimWait');   -- same owner: idempotent
RESET ROLE;
SELECT count(*) AS starts_of_tw_v_wait FROM duroxide.history
 WHERE instance_id = 'tw-v-wait' AND event_type = 'OrchestrationStarted';
SELECT count(*) AS queued_starts FROM duroxide.orchestrator_queue
 WHERE instance_id = 'tw-v-wait' AND kind = 'ExecutionStarted';

-- section: the client functions read as the caller, with search_path pinned
-- (an operator = that is always true does not make the victim's instance
-- visible to the attacker)
CREATE SCHEMA tw_evil AUTHORIZATION dx_tw_attacker;
SET ROLE dx_tw_attacker;
CREATE FUNCTION tw_evil.always(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR tw_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tw_evil.always);
SET search_path = tw_evil, pg_catalog;
SELECT duroxide.raise_event('tw-v-wait', 'go', '"forged"');
SELECT duroxide.cancel_orchestration('tw-v-wait');
SELECT duroxide.delete_instance('tw-v-wait', true);
SELECT duroxide.start_orchestration('tw-v-wait', 'TwAttackChild');
RESET search_path;
RESET ROLE;
SELECT count(*) AS messages_for_tw_v_wait FROM duroxide.orchestrator_queue WHERE instance_id = 'tw-v-wait';

-- section: a sub-orchestration with the victim's id fails that task
SET ROLE dx_tw_attacker;
SELECT duroxide.start_orchestration('tw-a-sub', 'TwAttackSub', '{"id": "tw-v-child"}');
SELECT status, output FROM duroxide.wait_for_orchestration('tw-a-sub', 10000);
-- and with the attacker's own existing id, as before
SELECT duroxide.start_orchestration('tw-a-sub-own', 'TwAttackSub', '{"id": "tw-a-own"}');
SELECT status, output FROM duroxide.wait_for_orchestration('tw-a-sub-own', 10000);

-- section: a detached start with the victim's id creates and attaches nothing
SELECT duroxide.start_orchestration('tw-a-detached', 'TwAttackDetached', '{"id": "tw-v-detached"}');
SELECT status, output FROM duroxide.wait_for_orchestration('tw-a-detached', 10000);

-- section: an await_any loser with the victim's id cancels nothing of the victim
SELECT duroxide.start_orchestration('tw-a-any', 'TwAttackAny', '{"id": "tw-v-any"}');
RESET ROLE;
CALL regress.wait_for_event_type('tw-a-any', 'TimerFired');
SET ROLE dx_tw_attacker;
SELECT duroxide.raise_event('tw-a-any', 'proceed');
SELECT status, output FROM duroxide.wait_for_orchestration('tw-a-any', 10000);
RESET ROLE;
CALL regress.settle();
SELECT kind, count(*) FROM duroxide.orchestrator_queue WHERE instance_id LIKE 'tw-v%' GROUP BY kind;
SELECT * FROM tw.victim_state() EXCEPT SELECT * FROM tw.before ORDER BY 1;

-- section: forged completions (written here by the superuser) are ignored
-- a completion of the wrong kind for the pending timer, and a
-- TimerFired, ActivityCompleted and two SubOrchestrationCompleted from the
-- wrong child (no child id, another child's id) for the pending child
CREATE TABLE tw.forged (id bigint);
WITH t AS (SELECT event_id FROM duroxide.history WHERE instance_id = 'tw-v-timer' AND event_type = 'TimerCreated'),
     s AS (SELECT event_id FROM duroxide.history WHERE instance_id = 'tw-v-parent'
                                                 AND event_type = 'SubOrchestrationScheduled'),
     f AS (
INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, source_event_id, data)
SELECT 'tw-v-timer', 1, 'ActivityCompleted', t.event_id, '{"result": "forged"}'::jsonb FROM t
UNION ALL SELECT 'tw-v-timer', 1, 'SubOrchestrationCompleted', t.event_id,
                 '{"result": "forged", "child_instance_id": "tw-v-child"}' FROM t
UNION ALL SELECT 'tw-v-parent', 1, 'TimerFired', s.event_id, NULL FROM s
UNION ALL SELECT 'tw-v-parent', 1, 'ActivityCompleted', s.event_id, '{"result": "forged"}' FROM s
UNION ALL SELECT 'tw-v-parent', 1, 'SubOrchestrationCompleted', s.event_id, '{"result": "forged"}' FROM s
UNION ALL SELECT 'tw-v-parent', 1, 'SubOrchestrationCompleted', s.event_id,
                 '{"result": "forged", "child_instance_id": "tw-a-own"}' FROM s
RETURNING id)
INSERT INTO tw.forged SELECT id FROM f;
SELECT count(*) AS forged FROM tw.forged;
DO $$
DECLARE
    m bigint;
BEGIN
    FOR m IN SELECT id FROM tw.forged LOOP
        CALL tw.wait_consumed(m);
    END LOOP;
END
$$;
SELECT status FROM duroxide.get_orchestration_status('tw-v-timer');
SELECT status FROM duroxide.get_orchestration_status('tw-v-parent');
SELECT * FROM tw.victim_state() EXCEPT SELECT * FROM tw.before ORDER BY 1;

-- section: duroxide.workers shows an instance id only to its owner and admins
-- (a long id: the attacker owns an instance named like its first 63 bytes)
SET ROLE dx_tw_attacker;
SELECT duroxide.start_orchestration(left('tw-v-gate-' || repeat('x', 90), 63), 'TwAttackChild') IS NOT NULL AS started;
RESET ROLE;
SELECT pg_advisory_lock(2424);
SET ROLE dx_tw_victim;
SELECT duroxide.start_orchestration('tw-v-gate-' || repeat('x', 90), 'TwVictimGate') IS NOT NULL AS started;
RESET ROLE;
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM duroxide.workers w
                          WHERE w.kind = 'activity worker' AND w.instance_id LIKE 'tw-v-gate-%');
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT kind, state, length(instance_id) FROM duroxide.workers WHERE instance_id LIKE 'tw-v-gate-%';
SET ROLE dx_tw_attacker;
SELECT count(*) AS attacker_sees FROM duroxide.workers WHERE instance_id LIKE 'tw-v-gate-%';
SELECT count(*) > 0 AS attacker_sees_busy_workers FROM duroxide.workers WHERE state = 'busy' AND instance_id IS NULL;
RESET ROLE;
SET ROLE dx_tw_victim;
SELECT kind, length(instance_id) FROM duroxide.workers WHERE instance_id LIKE 'tw-v-gate-%';
RESET ROLE;
SELECT pg_advisory_unlock(2424);
SELECT status, output FROM duroxide.wait_for_orchestration('tw-v-gate-' || repeat('x', 90), 10000);

-- section: the attacker gained nothing; every victim instance completes
SET ROLE dx_tw_attacker;
SELECT instance_id, orchestration_name, status, parent_instance_id FROM duroxide.instance_list ORDER BY 1;
RESET ROLE;
SELECT * FROM tw.victim_state() EXCEPT SELECT * FROM tw.before ORDER BY 1;
SET ROLE dx_tw_victim;
SELECT duroxide.raise_event(i, 'go', to_jsonb('for ' || i))
  FROM unnest(ARRAY['tw-v-wait', 'tw-v-detached', 'tw-v-any', 'tw-v-timer', 'tw-v-child']) i;
SELECT instance_id, status, output
  FROM unnest(ARRAY['tw-v-wait', 'tw-v-detached', 'tw-v-any', 'tw-v-timer', 'tw-v-child', 'tw-v-parent']) i,
       duroxide.wait_for_orchestration(i, 10000);
SELECT instance_id, owner, status, parent_instance_id FROM duroxide.instance_list ORDER BY 1;
RESET ROLE;
SELECT event_type, data FROM duroxide.get_history('tw-v-parent') ORDER BY event_id;
SELECT event_type FROM duroxide.get_history('tw-v-timer') ORDER BY event_id;
CALL regress.settle();
SELECT count(*) AS left_in_queues FROM duroxide.orchestrator_queue WHERE instance_id LIKE 'tw-%';

-- section: the victim deletes its parent with its child (the engine writes
-- for a plain role); the attacker cannot delete the victim's
SET ROLE dx_tw_attacker;
SELECT duroxide.delete_instance('tw-v-wait');
RESET ROLE;
SET ROLE dx_tw_victim;
SELECT duroxide.delete_instance('tw-v-parent');
SELECT instance_id FROM duroxide.instance_list ORDER BY 1;
RESET ROLE;
SELECT count(*) AS rows_left FROM (
    SELECT instance_id FROM duroxide.instances UNION ALL SELECT instance_id FROM duroxide.history
    UNION ALL SELECT instance_id FROM duroxide.executions UNION ALL SELECT instance_id FROM duroxide.orchestrator_queue
    UNION ALL SELECT instance_id FROM duroxide.worker_queue) t
 WHERE instance_id IN ('tw-v-parent', 'tw-v-child');
SELECT count(*) AS tw_v_wait_kept FROM duroxide.history WHERE instance_id = 'tw-v-wait';
