-- 05_race: await_any -- the first task to finish wins (1-based index and
-- value), and pending losers are withdrawn.
-- Losing timers are long (60 s): they are withdrawn, so nobody waits for them.
\set SHOW_CONTEXT never
CREATE SCHEMA race;
CREATE TABLE race.ran (instance_id text, what text);

CREATE FUNCTION race.work(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO race.ran VALUES (ctx.instance_id, input->>'value');
    IF input ? 'fail' THEN
        RAISE EXCEPTION '%', input->>'fail';
    END IF;
    RETURN input->'value';
END
$$;
SELECT duroxide.register_activity('RaceWork', 'race.work');

-- blocks until the test session releases advisory lock 505
CREATE FUNCTION race.block(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(505);
    RETURN '"unblocked"';
END
$$;
SELECT duroxide.register_activity('RaceBlock', 'race.block');

-- input.order: "activity_first" or "timer_first"; input.timer_ms; input.act
CREATE FUNCTION race.act_vs_timer(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a duroxide.task;
    t duroxide.task;
    r record;
BEGIN
    IF input->>'order' = 'activity_first' THEN
        a := duroxide.schedule_activity(ctx, 'RaceWork', input->'act');
        t := duroxide.schedule_timer(ctx, (input->>'timer_ms')::bigint);
        SELECT * INTO r FROM duroxide.await_any(ARRAY[a, t]);
    ELSE
        t := duroxide.schedule_timer(ctx, (input->>'timer_ms')::bigint);
        a := duroxide.schedule_activity(ctx, 'RaceWork', input->'act');
        SELECT * INTO r FROM duroxide.await_any(ARRAY[t, a]);
    END IF;
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END
$$;
SELECT duroxide.register_orchestration('RaceActVsTimer', 'race.act_vs_timer');

-- event "go" against a timer of input.timer_ms
CREATE FUNCTION race.event_vs_timer(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[
        duroxide.schedule_wait_for_event(ctx, 'go'),
        duroxide.schedule_timer(ctx, (input->>'timer_ms')::bigint)]);
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END
$$;
SELECT duroxide.register_orchestration('RaceEventVsTimer', 'race.event_vs_timer');

-- section: activity against a long timer: the activity wins (index 1), the timer is withdrawn
SELECT duroxide.start_orchestration('race-1', 'RaceActVsTimer',
    '{"order": "activity_first", "timer_ms": 60000, "act": {"value": "fast"}}');
SELECT status, output FROM duroxide.wait_for_orchestration('race-1');
SELECT event_id, event_type, source_event_id FROM duroxide.get_history('race-1');
SELECT count(*) AS queued_for_race_1 FROM duroxide.orchestrator_queue WHERE instance_id = 'race-1';
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: the same with the timer first in the array: index 2
SELECT duroxide.start_orchestration('race-2', 'RaceActVsTimer',
    '{"order": "timer_first", "timer_ms": 60000, "act": {"value": {"x": 1}}}');
SELECT status, output FROM duroxide.wait_for_orchestration('race-2');
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: a failed winner raises DX001 (and the losing timer is gone with the instance)
SELECT duroxide.start_orchestration('race-3', 'RaceActVsTimer',
    '{"order": "activity_first", "timer_ms": 60000, "act": {"value": "f", "fail": "winner failed"}}');
SELECT status, error FROM duroxide.wait_for_orchestration('race-3');
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: event against a long timer: the event wins with its data
SELECT duroxide.start_orchestration('race-4', 'RaceEventVsTimer', '{"timer_ms": 60000}');
CALL regress.wait_for_event_type('race-4', 'TimerCreated');
SELECT duroxide.raise_event('race-4', 'go', '{"approved": true}');
SELECT status, output FROM duroxide.wait_for_orchestration('race-4');
SELECT event_type FROM duroxide.get_history('race-4') ORDER BY event_id;
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: the event is already there when the race starts: the timer,
-- created and lost in the same turn, is withdrawn too
BEGIN;
SELECT duroxide.start_orchestration('race-4b', 'RaceEventVsTimer', '{"timer_ms": 60000}');
SELECT duroxide.raise_event('race-4b', 'go', '"already here"');
COMMIT;
SELECT status, output FROM duroxide.wait_for_orchestration('race-4b');
SELECT count(*) AS queued_for_race_4b FROM duroxide.orchestrator_queue WHERE instance_id = 'race-4b';
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
-- (deleted, so that a stray timer could not outlive this file)
SELECT duroxide.delete_instance('race-4b');

-- section: when several tasks are already done, the one done first in history wins
CREATE FUNCTION race.two_events(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[
        duroxide.schedule_wait_for_event(ctx, 'a'),
        duroxide.schedule_wait_for_event(ctx, 'b')]);
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END
$$;
SELECT duroxide.register_orchestration('RaceTwoEvents', 'race.two_events');
BEGIN;
SELECT duroxide.start_orchestration('race-4c', 'RaceTwoEvents');
SELECT duroxide.raise_event('race-4c', 'b', '"b came first"');
SELECT duroxide.raise_event('race-4c', 'a', '"a came second"');
COMMIT;
SELECT status, output FROM duroxide.wait_for_orchestration('race-4c');

-- section: a short timer against an event that never comes: index 2, value null
SELECT duroxide.start_orchestration('race-5', 'RaceEventVsTimer', '{"timer_ms": 50}');
SELECT status, output FROM duroxide.wait_for_orchestration('race-5');
SELECT event_type FROM duroxide.get_history('race-5') ORDER BY event_id;
-- a late event for the finished instance is ignored
SELECT duroxide.raise_event('race-5', 'go', '"late"');
SELECT status, output FROM duroxide.get_orchestration_status('race-5');
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: a subscription that lost a race does not consume the next arrival
CREATE FUNCTION race.lost_then_wait(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v jsonb;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[
        duroxide.schedule_wait_for_event(ctx, 'x'),
        duroxide.schedule_timer(ctx, 20)]);
    PERFORM duroxide.set_custom_status(ctx, '"race over"');
    v := duroxide.wait_for_event(ctx, 'x');
    RETURN jsonb_build_object('race_index', r.index, 'then', v);
END
$$;
SELECT duroxide.register_orchestration('RaceLostThenWait', 'race.lost_then_wait');
SELECT duroxide.start_orchestration('race-6', 'RaceLostThenWait');
CALL regress.wait_for_status('race-6', '"race over"');
SELECT duroxide.raise_event('race-6', 'x', '"the only x"');
SELECT status, output FROM duroxide.wait_for_orchestration('race-6', 5000);
-- (ignored when it completed; ends it if it did not)
SELECT duroxide.cancel_orchestration('race-6');
SELECT status FROM duroxide.wait_for_orchestration('race-6');

-- section: a losing sub-orchestration is cancelled
CREATE FUNCTION race.child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.wait_for_event(ctx, 'never');
END
$$;
CREATE FUNCTION race.child_vs_timer(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[
        duroxide.schedule_sub_orchestration(ctx, 'RaceChild', NULL, 'race-7-child'),
        duroxide.schedule_timer(ctx, 50)]);
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END
$$;
SELECT duroxide.register_orchestration('RaceChild', 'race.child');
SELECT duroxide.register_orchestration('RaceChildVsTimer', 'race.child_vs_timer');
SELECT duroxide.start_orchestration('race-7', 'RaceChildVsTimer');
SELECT status, output FROM duroxide.wait_for_orchestration('race-7');
SELECT status, error FROM duroxide.wait_for_orchestration('race-7-child');
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: a losing activity that is still queued is withdrawn and never runs
-- Occupy both activity workers with activities that wait for advisory lock
-- 505, held by this session, one at a time so each worker takes one.
CREATE FUNCTION race.blocker(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'RaceBlock');
END
$$;
SELECT duroxide.register_orchestration('RaceBlocker', 'race.blocker');
CREATE PROCEDURE race.wait_claimed(p_id text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        IF EXISTS (SELECT 1 FROM duroxide.worker_queue w
                    WHERE w.instance_id = p_id AND w.claim_boot IS NOT NULL) THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
        COMMIT;
    END LOOP;
    RAISE EXCEPTION 'the activity of % was never claimed', p_id;
END
$$;
SELECT pg_advisory_lock(505);
SELECT duroxide.start_orchestration('race-block-1', 'RaceBlocker');
CALL race.wait_claimed('race-block-1');
SELECT duroxide.start_orchestration('race-block-2', 'RaceBlocker');
CALL race.wait_claimed('race-block-2');
-- both workers are busy: the racing activity stays queued and the timer wins
SELECT duroxide.start_orchestration('race-8', 'RaceActVsTimer',
    '{"order": "activity_first", "timer_ms": 50, "act": {"value": "withdrawn"}}');
SELECT status, output FROM duroxide.wait_for_orchestration('race-8');
SELECT count(*) AS queued_for_race_8 FROM duroxide.worker_queue WHERE instance_id = 'race-8';
SELECT event_type FROM duroxide.get_history('race-8') ORDER BY event_id;
-- the event is already there: the activity, scheduled and lost in the same
-- turn, is withdrawn before any worker is free to take it
CREATE FUNCTION race.event_vs_act(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[
        duroxide.schedule_wait_for_event(ctx, 'go'),
        duroxide.schedule_activity(ctx, 'RaceWork', '{"value": "lost in the first turn"}')]);
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END
$$;
SELECT duroxide.register_orchestration('RaceEventVsAct', 'race.event_vs_act');
BEGIN;
SELECT duroxide.start_orchestration('race-9', 'RaceEventVsAct');
SELECT duroxide.raise_event('race-9', 'go', '"first"');
COMMIT;
SELECT status, output FROM duroxide.wait_for_orchestration('race-9');
SELECT count(*) AS queued_for_race_9 FROM duroxide.worker_queue WHERE instance_id = 'race-9';
-- (deleted, so that a stray activity could not run after this file)
SELECT duroxide.delete_instance('race-9');
-- release the workers
SELECT pg_advisory_unlock(505);
SELECT status, output FROM duroxide.wait_for_orchestration('race-block-1');
SELECT status, output FROM duroxide.wait_for_orchestration('race-block-2');
-- the withdrawn activity never ran; everything is drained
SELECT instance_id, what FROM race.ran ORDER BY instance_id;
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
