-- 07_events: external events (wait_for_event, schedule_wait_for_event,
-- raise_event).
\set SHOW_CONTEXT never
CREATE SCHEMA evt;

CREATE FUNCTION evt.one(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('got', duroxide.wait_for_event(ctx, 'approval'));
END
$$;
SELECT duroxide.register_orchestration('EvtOne', 'evt.one');

-- waits for "first", then for "second"
CREATE FUNCTION evt.two_names(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a jsonb;
    b jsonb;
BEGIN
    a := duroxide.wait_for_event(ctx, 'first');
    PERFORM duroxide.set_custom_status(ctx, '"got first"');
    b := duroxide.wait_for_event(ctx, 'second');
    RETURN jsonb_build_array(a, b);
END
$$;
SELECT duroxide.register_orchestration('EvtTwoNames', 'evt.two_names');

-- waits input.n times for "tick"
CREATE FUNCTION evt.ticks(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    got jsonb := '[]';
BEGIN
    FOR i IN 1 .. (input->>'n')::int LOOP
        got := got || jsonb_build_array(duroxide.wait_for_event(ctx, 'tick'));
    END LOOP;
    RETURN got;
END
$$;
SELECT duroxide.register_orchestration('EvtTicks', 'evt.ticks');

-- schedules subscriptions first, then awaits them together
CREATE FUNCTION evt.scheduled(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a duroxide.task;
    b duroxide.task;
    c duroxide.task;
BEGIN
    a := duroxide.schedule_wait_for_event(ctx, 'color');
    b := duroxide.schedule_wait_for_event(ctx, 'size');
    c := duroxide.schedule_wait_for_event(ctx, 'color');
    RETURN jsonb_build_object('kind', a.kind, 'all', duroxide.await_all(ARRAY[a, b, c]));
END
$$;
SELECT duroxide.register_orchestration('EvtScheduled', 'evt.scheduled');

-- section: wait_for_event returns the event's data
SELECT duroxide.start_orchestration('evt-1', 'EvtOne');
CALL regress.wait_for_event_type('evt-1', 'EventSubscribed');
SELECT duroxide.raise_event('evt-1', 'approval', '{"approved": true, "by": "bob"}');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-1');
SELECT event_type, data FROM duroxide.get_history('evt-1') ORDER BY event_id;

-- section: an event without data gives null
SELECT duroxide.start_orchestration('evt-2', 'EvtOne');
SELECT duroxide.raise_event('evt-2', 'approval');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-2');

-- section: an event raised before the orchestration ever ran is kept
BEGIN;
SELECT duroxide.start_orchestration('evt-3', 'EvtOne');
SELECT duroxide.raise_event('evt-3', 'approval', '"early"');
COMMIT;
SELECT status, output FROM duroxide.wait_for_orchestration('evt-3');

-- section: an event raised before the orchestration waits for it is kept
-- ("second" is raised first, while the instance waits for "first")
SELECT duroxide.start_orchestration('evt-4', 'EvtTwoNames');
SELECT duroxide.raise_event('evt-4', 'second', '"two"');
SELECT duroxide.raise_event('evt-4', 'first', '"one"');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-4');

-- section: two raises of the same name are two arrivals, in order
SELECT duroxide.start_orchestration('evt-5', 'EvtTicks', '{"n": 2}');
SELECT duroxide.raise_event('evt-5', 'tick', '1');
SELECT duroxide.raise_event('evt-5', 'tick', '2');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-5');
SELECT event_type, count(*) FROM duroxide.get_history('evt-5') GROUP BY event_type ORDER BY event_type;

-- section: more arrivals than waits: the extra one is not used
SELECT duroxide.start_orchestration('evt-6', 'EvtTicks', '{"n": 2}');
BEGIN;
SELECT duroxide.raise_event('evt-6', 'tick', '"a"');
SELECT duroxide.raise_event('evt-6', 'tick', '"b"');
SELECT duroxide.raise_event('evt-6', 'tick', '"c"');
COMMIT;
SELECT status, output FROM duroxide.wait_for_orchestration('evt-6');

-- section: schedule_wait_for_event: subscriptions of one name take arrivals in order
SELECT duroxide.start_orchestration('evt-7', 'EvtScheduled');
SELECT duroxide.raise_event('evt-7', 'color', '"red"');
SELECT duroxide.raise_event('evt-7', 'size', '"XL"');
SELECT duroxide.raise_event('evt-7', 'color', '"blue"');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-7');
SELECT event_type, count(*) FROM duroxide.get_history('evt-7') GROUP BY event_type ORDER BY event_type;

-- section: event names are matched exactly
SELECT duroxide.start_orchestration('evt-8', 'EvtOne');
SELECT duroxide.raise_event('evt-8', 'Approval', '"wrong case"');
SELECT duroxide.raise_event('evt-8', 'approval ', '"trailing space"');
SELECT duroxide.raise_event('evt-8', 'approval', '"exact"');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-8');

-- section: raise_event errors
SELECT duroxide.raise_event('no-such-instance', 'approval', '1');
SELECT duroxide.raise_event(NULL, 'approval', '1');
SELECT duroxide.raise_event('evt-1', NULL, '1');
SELECT duroxide.raise_event('evt-1', '', '1');
SELECT duroxide.raise_event('evt-1', repeat('n', 1025), '1');

-- section: raise_event on a terminal instance is ignored
SELECT duroxide.raise_event('evt-1', 'approval', '"too late"');
SELECT status, output FROM duroxide.get_orchestration_status('evt-1');
SELECT count(*) FROM duroxide.get_history('evt-1') WHERE event_type = 'EventRaised';
SELECT count(*) FROM duroxide.orchestrator_queue WHERE instance_id = 'evt-1';

-- section: raise_event is transactional
SELECT duroxide.start_orchestration('evt-9', 'EvtOne');
BEGIN;
SELECT duroxide.raise_event('evt-9', 'approval', '"rolled back"');
ROLLBACK;
SELECT status FROM duroxide.wait_for_orchestration('evt-9', 300);
SELECT duroxide.raise_event('evt-9', 'approval', '"committed"');
SELECT status, output FROM duroxide.wait_for_orchestration('evt-9');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
