-- 06_timers: durable timers (schedule_timer, sleep).
\set SHOW_CONTEXT never
CREATE SCHEMA tmr;

-- sleeps input.ms, recording the time before and after
CREATE FUNCTION tmr.sleeper(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    t0 := duroxide.utc_now(ctx);
    PERFORM duroxide.sleep(ctx, (input->>'ms')::bigint);
    t1 := duroxide.utc_now(ctx);
    RETURN jsonb_build_object('slept_at_least_ms',
        extract(epoch FROM t1 - t0) * 1000 >= (input->>'ms')::bigint);
END
$$;
SELECT duroxide.register_orchestration('TmrSleeper', 'tmr.sleeper');

-- schedule_timer + await: the value of a timer is null
CREATE FUNCTION tmr.scheduled(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t duroxide.task;
    v jsonb;
BEGIN
    t := duroxide.schedule_timer(ctx, 30);
    v := duroxide.await(t);
    RETURN jsonb_build_object('kind', t.kind, 'value', v, 'value_is_sql_null', v IS NULL,
                              'task_instance', t.instance_id, 'task_execution', t.execution_id);
END
$$;
SELECT duroxide.register_orchestration('TmrScheduled', 'tmr.scheduled');

-- several sequential sleeps
CREATE FUNCTION tmr.steps(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    done jsonb := '[]';
BEGIN
    FOR i IN 1 .. 3 LOOP
        PERFORM duroxide.sleep(ctx, 20 * i);
        done := done || to_jsonb(i);
    END LOOP;
    RETURN done;
END
$$;
SELECT duroxide.register_orchestration('TmrSteps', 'tmr.steps');

-- a timer with the delay given in the input (negative ones are refused)
CREATE FUNCTION tmr.delay(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.sleep(ctx, (input->>'ms')::bigint);
    RETURN '"woke up"';
END
$$;
SELECT duroxide.register_orchestration('TmrDelay', 'tmr.delay');

-- section: sleep waits at least its delay
SELECT duroxide.start_orchestration('tmr-1', 'TmrSleeper', '{"ms": 200}');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-1');
SELECT event_id, event_type, source_event_id, data->'delay_ms' AS delay_ms
  FROM duroxide.get_history('tmr-1');
-- the timer fired no earlier than its delay after it was created
SELECT f.created_at - c.created_at >= interval '200 ms' AS fired_after_delay,
       (c.data->>'fire_at')::timestamptz - c.created_at >= interval '199 ms' AS fire_at_recorded
  FROM duroxide.get_history('tmr-1') c
  JOIN duroxide.get_history('tmr-1') f ON f.source_event_id = c.event_id
 WHERE c.event_type = 'TimerCreated' AND f.event_type = 'TimerFired';

-- section: schedule_timer returns a task; awaiting it gives null
SELECT duroxide.start_orchestration('tmr-2', 'TmrScheduled');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-2');

-- section: sequential timers, one turn each
SELECT duroxide.start_orchestration('tmr-3', 'TmrSteps');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-3');
SELECT event_id, event_type, source_event_id, data->'delay_ms' AS delay_ms
  FROM duroxide.get_history('tmr-3');

-- section: a zero delay fires at once
SELECT duroxide.start_orchestration('tmr-4', 'TmrDelay', '{"ms": 0}');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-4');
SELECT event_type FROM duroxide.get_history('tmr-4') ORDER BY event_id;

-- section: a negative delay fails the instance with a clear message
SELECT duroxide.start_orchestration('tmr-5', 'TmrDelay', '{"ms": -5}');
SELECT status, error FROM duroxide.wait_for_orchestration('tmr-5');
SELECT event_type, data FROM duroxide.get_history('tmr-5') ORDER BY event_id;

-- section: a NULL delay fails the instance too
SELECT duroxide.start_orchestration('tmr-6', 'TmrDelay', '{}');
SELECT status, error FROM duroxide.wait_for_orchestration('tmr-6');

-- section: timers of different instances fire independently
SELECT duroxide.start_orchestration('tmr-7', 'TmrDelay', '{"ms": 100}');
SELECT duroxide.start_orchestration('tmr-8', 'TmrDelay', '{"ms": 10}');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-7');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-8');

-- section: a timer waits its full delay from when it was created, even after a slow turn
CREATE FUNCTION tmr.slow_turn(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    IF NOT duroxide.is_replaying(ctx) THEN
        PERFORM pg_sleep(0.3);      -- the first turn is slow before it schedules the timer
    END IF;
    t0 := duroxide.utc_now(ctx);
    PERFORM duroxide.sleep(ctx, 200);
    t1 := duroxide.utc_now(ctx);
    RETURN jsonb_build_object('slept_at_least_ms', extract(epoch FROM t1 - t0) * 1000 >= 200);
END
$$;
SELECT duroxide.register_orchestration('TmrSlowTurn', 'tmr.slow_turn');
SELECT duroxide.start_orchestration('tmr-9', 'TmrSlowTurn');
SELECT status, output FROM duroxide.wait_for_orchestration('tmr-9');
-- it fired no earlier than the fire_at it recorded
SELECT f.created_at >= (c.data->>'fire_at')::timestamptz AS fired_after_fire_at
  FROM duroxide.get_history('tmr-9') c
  JOIN duroxide.get_history('tmr-9') f ON f.source_event_id = c.event_id
 WHERE c.event_type = 'TimerCreated' AND f.event_type = 'TimerFired';

-- section: nothing is left in the timer queue
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
