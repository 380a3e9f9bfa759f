-- 15_activity_client_calls: activities may call the client functions
-- (start_orchestration, raise_event); the effect happens only if the
-- activity commits.
\set SHOW_CONTEXT never
CREATE SCHEMA acc;

-- the target: waits for "ping" and returns its data
CREATE FUNCTION acc.target(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('input', input, 'ping', duroxide.wait_for_event(ctx, 'ping'));
END
$$;
SELECT duroxide.register_orchestration('AccTarget', 'acc.target');

-- input: {"start": id?, "raise": id?, "data": ..., "fail": msg?}
CREATE FUNCTION acc.kick(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    started text;
BEGIN
    IF input ? 'start' THEN
        started := duroxide.start_orchestration(input->>'start', 'AccTarget',
                                                jsonb_build_object('from', ctx.instance_id));
    END IF;
    IF input ? 'raise' THEN
        PERFORM duroxide.raise_event(input->>'raise', 'ping', input->'data');
    END IF;
    IF input ? 'fail' THEN
        RAISE EXCEPTION '%', input->>'fail';
    END IF;
    RETURN jsonb_build_object('started', started);
END
$$;
SELECT duroxide.register_activity('AccKick', 'acc.kick');

CREATE FUNCTION acc.kicker(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        RETURN duroxide.call_activity(ctx, 'AccKick', input);
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        RETURN jsonb_build_object('activity_failed', SQLERRM);
    END;
END
$$;
SELECT duroxide.register_orchestration('AccKicker', 'acc.kicker');

-- section: an activity starts an orchestration and raises an event to it
SELECT duroxide.start_orchestration('acc-1', 'AccKicker',
    '{"start": "acc-1-target", "raise": "acc-1-target", "data": "hello from an activity"}');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-1');
SELECT status, output, parent_instance_id FROM duroxide.wait_for_orchestration('acc-1-target');

-- section: an activity raises an event to an instance that waits
SELECT duroxide.start_orchestration('acc-2-target', 'AccTarget', '"started by the client"');
SELECT duroxide.start_orchestration('acc-2', 'AccKicker', '{"raise": "acc-2-target", "data": 42}');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-2');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-2-target');

-- section: an activity that starts an orchestration and then fails starts nothing
SELECT duroxide.start_orchestration('acc-3', 'AccKicker',
    '{"start": "acc-3-target", "raise": "acc-3-target", "data": "lost", "fail": "changed my mind"}');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-3');
SELECT status FROM duroxide.get_orchestration_status('acc-3-target');

-- section: an activity that raises an event and then fails delivers nothing
SELECT duroxide.start_orchestration('acc-4-target', 'AccTarget', '"waiting"');
SELECT duroxide.start_orchestration('acc-4', 'AccKicker',
    '{"raise": "acc-4-target", "data": "lost", "fail": "rolled back"}');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-4');
SELECT status FROM duroxide.wait_for_orchestration('acc-4-target', 300);
SELECT count(*) FROM duroxide.get_history('acc-4-target') WHERE event_type = 'EventRaised';
-- the client's event is the first one it gets
SELECT duroxide.raise_event('acc-4-target', 'ping', '"from the client"');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-4-target');

-- section: an activity's client call errors like any other error
SELECT duroxide.start_orchestration('acc-5', 'AccKicker', '{"raise": "acc-no-such-instance"}');
SELECT status, output FROM duroxide.wait_for_orchestration('acc-5');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
