-- 12_determinism: recorded values (utc_now, new_guid) are identical on every
-- replay, is_replaying, and changed code that no longer matches its history
-- fails the instance as nondeterministic.
\set SHOW_CONTEXT never
CREATE SCHEMA det;

SELECT duroxide.register_activity('DetEcho', 'regress.echo');
CREATE FUNCTION det.other(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"other"'::jsonb $$;
SELECT duroxide.register_activity('DetOther', 'det.other');

-- section: utc_now and new_guid are recorded and identical on every replay
CREATE FUNCTION det.recorded(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    g0 uuid;
    g1 uuid;
    echoed jsonb;
    t2 timestamptz;
BEGIN
    t0 := duroxide.utc_now(ctx);
    g0 := duroxide.new_guid(ctx);
    g1 := duroxide.new_guid(ctx);
    -- the activity sees the values of the first turn
    echoed := duroxide.call_activity(ctx, 'DetEcho', jsonb_build_object('t0', t0, 'g0', g0));
    PERFORM duroxide.sleep(ctx, 20);
    t2 := duroxide.utc_now(ctx);
    -- this is the last turn: t0 and g0 were replayed from history twice
    RETURN jsonb_build_object(
        'same_now_across_replays', (echoed->>'t0')::timestamptz = t0,
        'same_guid_across_replays', (echoed->>'g0')::uuid = g0,
        'guids_differ', g0 <> g1,
        'guid_is_v4', g0::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
        'later_now_is_later', t2 >= t0 + interval '20 ms');
END
$$;
SELECT duroxide.register_orchestration('DetRecorded', 'det.recorded');
SELECT duroxide.start_orchestration('det-1', 'DetRecorded');
SELECT status, jsonb_pretty(output) AS output, error FROM duroxide.wait_for_orchestration('det-1');
SELECT event_type, data->>'name' AS name FROM duroxide.get_history('det-1') ORDER BY event_id;
-- the recorded time lies within the instance's lifetime
SELECT (h.data->>'value')::timestamptz BETWEEN s.created_at AND s.updated_at AS now_in_lifetime
  FROM duroxide.get_history('det-1') h, duroxide.get_orchestration_status('det-1') s
 WHERE h.event_type = 'SystemCall' AND h.data->>'name' = 'utc_now'
 ORDER BY h.event_id LIMIT 1;

-- section: is_replaying is true while re-running code an earlier turn already ran
CREATE FUNCTION det.replaying(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r0 boolean;
    r1 boolean;
    r2 boolean;
BEGIN
    r0 := duroxide.is_replaying(ctx);
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '1');
    r1 := duroxide.is_replaying(ctx);
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '2');
    r2 := duroxide.is_replaying(ctx);
    -- the values of the last turn, which replayed the first two awaits' code
    RETURN jsonb_build_object('at_start', r0, 'after_first', r1, 'after_second', r2);
END
$$;
SELECT duroxide.register_orchestration('DetReplaying', 'det.replaying');
SELECT duroxide.start_orchestration('det-2', 'DetReplaying');
SELECT status, output FROM duroxide.wait_for_orchestration('det-2');
-- a single-turn orchestration never replays
CREATE FUNCTION det.one_turn(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN to_jsonb(duroxide.is_replaying(ctx)); END $$;
SELECT duroxide.register_orchestration('DetOneTurn', 'det.one_turn');
SELECT duroxide.start_orchestration('det-3', 'DetOneTurn');
SELECT status, output FROM duroxide.wait_for_orchestration('det-3');

-- section: changed code schedules a different activity: nondeterministic
CREATE FUNCTION det.changing(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '"a"');
    PERFORM duroxide.wait_for_event(ctx, 'go');
    RETURN duroxide.call_activity(ctx, 'DetEcho', '"b"');
END
$$;
SELECT duroxide.register_orchestration('DetChanging', 'det.changing');
SELECT duroxide.start_orchestration('det-4', 'DetChanging');
CALL regress.wait_for_event_type('det-4', 'EventSubscribed');
CREATE OR REPLACE FUNCTION det.changing(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DetOther', '"a"');
    PERFORM duroxide.wait_for_event(ctx, 'go');
    RETURN duroxide.call_activity(ctx, 'DetEcho', '"b"');
END
$$;
SELECT duroxide.raise_event('det-4', 'go');
SELECT status, error LIKE 'nondeterministic:%' AS nondeterministic, error
  FROM duroxide.wait_for_orchestration('det-4');
SELECT event_type FROM duroxide.get_history('det-4') ORDER BY event_id;

-- section: changed code passes a different input: nondeterministic
CREATE FUNCTION det.input_change(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '{"amount": 10}');
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.register_orchestration('DetInputChange', 'det.input_change');
SELECT duroxide.start_orchestration('det-5', 'DetInputChange');
CALL regress.wait_for_event_type('det-5', 'EventSubscribed');
CREATE OR REPLACE FUNCTION det.input_change(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '{"amount": 20}');
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.raise_event('det-5', 'go');
SELECT status, error LIKE 'nondeterministic:%' AS nondeterministic, error
  FROM duroxide.wait_for_orchestration('det-5');

-- section: changed code replaces an activity by a timer: nondeterministic
CREATE FUNCTION det.kind_change(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '1');
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.register_orchestration('DetKindChange', 'det.kind_change');
SELECT duroxide.start_orchestration('det-6', 'DetKindChange');
CALL regress.wait_for_event_type('det-6', 'EventSubscribed');
CREATE OR REPLACE FUNCTION det.kind_change(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.sleep(ctx, 10);
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.raise_event('det-6', 'go');
SELECT status, error LIKE 'nondeterministic:%' AS nondeterministic, error
  FROM duroxide.wait_for_orchestration('det-6');

-- section: changed code no longer makes a recorded call: nondeterministic
CREATE FUNCTION det.dropped(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DetEcho', '"recorded"');
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.register_orchestration('DetDropped', 'det.dropped');
SELECT duroxide.start_orchestration('det-7', 'DetDropped');
CALL regress.wait_for_event_type('det-7', 'EventSubscribed');
CREATE OR REPLACE FUNCTION det.dropped(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN '"returned early"';
END
$$;
SELECT duroxide.raise_event('det-7', 'go');
SELECT status, output, error LIKE 'nondeterministic:%' AS nondeterministic, error
  FROM duroxide.wait_for_orchestration('det-7');

-- ... or stops before a recorded call and waits for something else
CREATE FUNCTION det.dropped_wait(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a duroxide.task;
    b duroxide.task;
BEGIN
    a := duroxide.schedule_wait_for_event(ctx, 'go');
    b := duroxide.schedule_activity(ctx, 'DetEcho', '"second call"');
    RETURN duroxide.await_all(ARRAY[a, b]);
END
$$;
SELECT duroxide.register_orchestration('DetDroppedWait', 'det.dropped_wait');
SELECT duroxide.start_orchestration('det-8', 'DetDroppedWait');
CALL regress.wait_for_event_type('det-8', 'ActivityCompleted');
CREATE OR REPLACE FUNCTION det.dropped_wait(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.raise_event('det-8', 'go', '"x"');
SELECT status, error LIKE 'nondeterministic:%' AS nondeterministic, error
  FROM duroxide.wait_for_orchestration('det-8');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
