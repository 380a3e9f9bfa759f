-- 04_fanout: fan-out / fan-in with await_all and await_all_settled.
\set SHOW_CONTEXT never
CREATE SCHEMA fan;

-- sleeps input.sleep_ms, then returns input.value or raises input.fail
CREATE FUNCTION fan.work(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(coalesce((input->>'sleep_ms')::int, 0) / 1000.0);
    IF input ? 'fail' THEN
        RAISE EXCEPTION '%', input->>'fail';
    END IF;
    RETURN input->'value';
END
$$;
SELECT duroxide.register_activity('FanWork', 'fan.work');

-- schedules one FanWork per element of input.items, awaits them all
CREATE FUNCTION fan.all(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
    item jsonb;
BEGIN
    FOR item IN SELECT x FROM jsonb_array_elements(input->'items') AS x LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'FanWork', item);
    END LOOP;
    IF input ? 'settled' THEN
        RETURN duroxide.await_all_settled(tasks);
    END IF;
    RETURN duroxide.await_all(tasks);
END
$$;
SELECT duroxide.register_orchestration('FanAll', 'fan.all');

-- the same, catching the failure
CREATE FUNCTION fan.all_caught(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
    item jsonb;
BEGIN
    FOR item IN SELECT x FROM jsonb_array_elements(input->'items') AS x LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'FanWork', item);
    END LOOP;
    BEGIN
        RETURN duroxide.await_all(tasks);
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        RETURN jsonb_build_object('caught', SQLSTATE, 'message', SQLERRM);
    END;
END
$$;
SELECT duroxide.register_orchestration('FanAllCaught', 'fan.all_caught');

-- section: results in argument order, whatever the completion order
-- (the first items sleep longest, so they tend to finish last)
SELECT duroxide.start_orchestration('fan-1', 'FanAll', '{"items": [
    {"value": "a", "sleep_ms": 150}, {"value": "b", "sleep_ms": 100},
    {"value": "c", "sleep_ms": 50}, {"value": {"d": 4}}, {"value": null}, {}]}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('fan-1');
-- the first turn schedules all six at once; then six completions; then the end
SELECT event_id, event_type FROM duroxide.get_history('fan-1') WHERE event_id <= 7;
SELECT event_type, count(*) FROM duroxide.get_history('fan-1')
 WHERE event_id > 7 GROUP BY event_type ORDER BY event_type;
SELECT event_type FROM duroxide.get_history('fan-1') ORDER BY event_id DESC LIMIT 1;

-- section: a wide fan-out (more tasks than a worker batch)
SELECT duroxide.start_orchestration('fan-wide', 'FanAll',
    jsonb_build_object('items', (SELECT jsonb_agg(jsonb_build_object('value', i) ORDER BY i)
                                   FROM generate_series(1, 60) AS i)));
SELECT status, output = (SELECT jsonb_agg(i ORDER BY i) FROM generate_series(1, 60) AS i) AS in_order,
       jsonb_array_length(output) AS n
  FROM duroxide.wait_for_orchestration('fan-wide');

-- section: a fan-out of one
SELECT duroxide.start_orchestration('fan-2', 'FanAll', '{"items": [{"value": 42}]}');
SELECT status, output FROM duroxide.wait_for_orchestration('fan-2');

-- section: the first failure in argument order is raised as DX001, once all are done
-- item 2 fails at once, item 3 fails later, item 1 succeeds last: the error
-- is item 2's, and the instance fails only after item 1 completed
SELECT duroxide.start_orchestration('fan-3', 'FanAll', '{"items": [
    {"value": "slow ok", "sleep_ms": 250}, {"fail": "second item failed"},
    {"fail": "third item failed", "sleep_ms": 100}, {"value": "fast ok"}]}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('fan-3');
SELECT event_type, count(*) FROM duroxide.get_history('fan-3')
 GROUP BY event_type ORDER BY event_type;
-- the failure was raised after every task had its completion
SELECT max(event_id) FILTER (WHERE event_type IN ('ActivityCompleted', 'ActivityFailed'))
     < max(event_id) FILTER (WHERE event_type = 'OrchestrationFailed') AS failed_after_all_done
  FROM duroxide.get_history('fan-3');

-- the same when the later failure finishes first
SELECT duroxide.start_orchestration('fan-4', 'FanAll', '{"items": [
    {"fail": "first item failed", "sleep_ms": 200}, {"fail": "second item failed"}]}');
SELECT status, error FROM duroxide.wait_for_orchestration('fan-4');

-- section: caught with WHEN SQLSTATE 'DX001'
SELECT duroxide.start_orchestration('fan-5', 'FanAllCaught', '{"items": [
    {"value": 1}, {"fail": "boom", "sleep_ms": 50}, {"value": 3}]}');
SELECT status, output FROM duroxide.wait_for_orchestration('fan-5');
SELECT duroxide.start_orchestration('fan-6', 'FanAllCaught', '{"items": [{"value": 1}, {"value": 2}]}');
SELECT status, output FROM duroxide.wait_for_orchestration('fan-6');

-- section: await_all_settled: [{"ok": v} | {"error": msg}, ...] in argument order
SELECT duroxide.start_orchestration('fan-7', 'FanAll', '{"settled": true, "items": [
    {"value": "first", "sleep_ms": 100}, {"fail": "second broke"}, {"value": null},
    {"value": [1, 2]}, {"fail": "fifth broke", "sleep_ms": 50}]}');
SELECT status, jsonb_pretty(output) AS output FROM duroxide.wait_for_orchestration('fan-7');

-- section: await_all over timers and an activity (a timer's value is null)
CREATE FUNCTION fan.mixed(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.await_all(ARRAY[
        duroxide.schedule_timer(ctx, 50),
        duroxide.schedule_activity(ctx, 'FanWork', '{"value": "act"}'),
        duroxide.schedule_timer(ctx, 10)]);
END
$$;
SELECT duroxide.register_orchestration('FanMixed', 'fan.mixed');
SELECT duroxide.start_orchestration('fan-8', 'FanMixed');
SELECT status, output FROM duroxide.wait_for_orchestration('fan-8');
SELECT event_id, event_type FROM duroxide.get_history('fan-8') WHERE event_id <= 4;

-- section: an empty task array fails the instance with a clear message
CREATE FUNCTION fan.empty(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.await_all('{}'::duroxide.task[]);
END
$$;
SELECT duroxide.register_orchestration('FanEmpty', 'fan.empty');
SELECT duroxide.start_orchestration('fan-9', 'FanEmpty');
SELECT status, error FROM duroxide.wait_for_orchestration('fan-9');
