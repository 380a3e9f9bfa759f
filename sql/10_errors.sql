-- 10_errors: activity failures (DX001), uncaught errors, unknown activities,
-- and orchestrations that swallow everything with WHEN OTHERS.
\set SHOW_CONTEXT never
CREATE SCHEMA err;

-- returns input.value, or raises input.fail (with input.state if given)
CREATE FUNCTION err.work(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF input ? 'fail' THEN
        IF input ? 'state' THEN
            RAISE EXCEPTION USING MESSAGE = input->>'fail', ERRCODE = input->>'state';
        END IF;
        RAISE EXCEPTION '%', input->>'fail';
    END IF;
    IF input ? 'divide' THEN
        RETURN to_jsonb(1 / (input->>'divide')::int);
    END IF;
    RETURN input->'value';
END
$$;
SELECT duroxide.register_activity('ErrWork', 'err.work');

-- calls ErrWork with the input; catches DX001 or OTHERS as input.catch says
CREATE FUNCTION err.caller(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    detail text;
BEGIN
    IF input->>'catch' = 'dx001' THEN
        BEGIN
            RETURN duroxide.call_activity(ctx, 'ErrWork', input->'act');
        EXCEPTION WHEN SQLSTATE 'DX001' THEN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            RETURN jsonb_build_object('caught', 'DX001', 'sqlstate', SQLSTATE, 'sqlerrm', SQLERRM,
                                      'detail', detail);
        END;
    ELSIF input->>'catch' = 'others' THEN
        BEGIN
            RETURN duroxide.call_activity(ctx, 'ErrWork', input->'act');
        EXCEPTION WHEN OTHERS THEN
            RETURN jsonb_build_object('caught', 'OTHERS', 'sqlstate', SQLSTATE, 'sqlerrm', SQLERRM);
        END;
    END IF;
    RETURN duroxide.call_activity(ctx, 'ErrWork', input->'act');
END
$$;
SELECT duroxide.register_orchestration('ErrCaller', 'err.caller');

-- section: an activity error is raised at the await as DX001, caught by SQLSTATE
SELECT duroxide.start_orchestration('err-1', 'ErrCaller',
    '{"catch": "dx001", "act": {"fail": "card declined"}}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('err-1');
SELECT event_type, data FROM duroxide.get_history('err-1') ORDER BY event_id;

-- section: ... and by WHEN OTHERS
SELECT duroxide.start_orchestration('err-2', 'ErrCaller',
    '{"catch": "others", "act": {"fail": "out of stock"}}');
SELECT status, output FROM duroxide.wait_for_orchestration('err-2');

-- section: whatever the activity's own SQLSTATE, the orchestration sees DX001
SELECT duroxide.start_orchestration('err-3', 'ErrCaller',
    '{"catch": "dx001", "act": {"fail": "custom state", "state": "P0099"}}');
SELECT status, output->>'sqlstate' AS sqlstate, output->>'sqlerrm' AS sqlerrm
  FROM duroxide.wait_for_orchestration('err-3');
SELECT duroxide.start_orchestration('err-4', 'ErrCaller',
    '{"catch": "dx001", "act": {"divide": 0}}');
SELECT status, output->>'sqlstate' AS sqlstate, output->>'sqlerrm' AS sqlerrm
  FROM duroxide.wait_for_orchestration('err-4');

-- section: uncaught, the activity's error fails the instance with its message
SELECT duroxide.start_orchestration('err-5', 'ErrCaller', '{"act": {"fail": "payment service down"}}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('err-5');
SELECT event_type, data FROM duroxide.get_history('err-5')
 WHERE event_type IN ('ActivityFailed', 'OrchestrationFailed') ORDER BY event_id;

-- section: an error raised by the orchestration itself fails the instance
CREATE FUNCTION err.raiser(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v jsonb;
BEGIN
    v := duroxide.call_activity(ctx, 'ErrWork', '{"value": 0}');
    IF input->>'how' = 'raise' THEN
        RAISE EXCEPTION 'validation failed: % is not positive', v;
    END IF;
    RETURN to_jsonb(1 / v::text::int);
END
$$;
SELECT duroxide.register_orchestration('ErrRaiser', 'err.raiser');
SELECT duroxide.start_orchestration('err-6', 'ErrRaiser', '{"how": "raise"}');
SELECT status, error FROM duroxide.wait_for_orchestration('err-6');
SELECT duroxide.start_orchestration('err-7', 'ErrRaiser', '{"how": "divide"}');
SELECT status, error FROM duroxide.wait_for_orchestration('err-7');
SELECT event_type FROM duroxide.get_history('err-7') ORDER BY event_id;

-- section: an unknown activity name fails the instance with a clear message
CREATE FUNCTION err.unknown(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'NoSuchActivity', '{}');
END
$$;
SELECT duroxide.register_orchestration('ErrUnknown', 'err.unknown');
SELECT duroxide.start_orchestration('err-8', 'ErrUnknown');
SELECT status, error FROM duroxide.wait_for_orchestration('err-8');
SELECT event_type FROM duroxide.get_history('err-8') ORDER BY event_id;

-- section: bad arguments to durable calls fail the instance with a clear message
CREATE FUNCTION err.bad_args(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    CASE input->>'case'
        WHEN 'null name' THEN PERFORM duroxide.schedule_activity(ctx, NULL);
        WHEN 'empty name' THEN PERFORM duroxide.schedule_activity(ctx, '');
        WHEN 'null event' THEN PERFORM duroxide.schedule_wait_for_event(ctx, NULL);
        WHEN 'null ctx' THEN PERFORM duroxide.schedule_activity(NULL, 'ErrWork');
        WHEN 'null task' THEN PERFORM duroxide.await(NULL);
        WHEN 'foreign task' THEN PERFORM duroxide.await(ROW('someone-else', 1, 2, 'activity')::duroxide.task);
        WHEN 'unknown task' THEN PERFORM duroxide.await(ROW(ctx.instance_id, 1, 99, 'activity')::duroxide.task);
    END CASE;
    RETURN '"unreachable"';
END
$$;
SELECT duroxide.register_orchestration('ErrBadArgs', 'err.bad_args');
SELECT duroxide.start_orchestration('err-args-' || n, 'ErrBadArgs', jsonb_build_object('case', c))
  FROM unnest(ARRAY['null name', 'empty name', 'null event', 'null ctx', 'null task',
                    'foreign task', 'unknown task']) WITH ORDINALITY AS u(c, n);
SELECT u.c AS "case", s.status, s.error
  FROM unnest(ARRAY['null name', 'empty name', 'null event', 'null ctx', 'null task',
                    'foreign task', 'unknown task']) WITH ORDINALITY AS u(c, n),
       LATERAL duroxide.wait_for_orchestration('err-args-' || u.n) AS s
 ORDER BY u.n;

-- section: an activity unregistered while the instance runs fails it when scheduled
CREATE FUNCTION err.gone(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"should not run"'::jsonb $$;
CREATE FUNCTION err.gone_caller(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.wait_for_event(ctx, 'go');
    RETURN duroxide.call_activity(ctx, 'ErrGone');
END
$$;
SELECT duroxide.register_activity('ErrGone', 'err.gone');
SELECT duroxide.register_orchestration('ErrGoneCaller', 'err.gone_caller');
-- the instance waits for "go"; the activity is removed before it is scheduled
SELECT duroxide.start_orchestration('err-9', 'ErrGoneCaller');
SELECT duroxide.unregister_activity('ErrGone');
SELECT duroxide.raise_event('err-9', 'go');
SELECT status, error FROM duroxide.wait_for_orchestration('err-9');

-- section: WHEN OTHERS that swallows everything still completes correctly across turns
CREATE FUNCTION err.swallow(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    results jsonb := '[]';
    errors jsonb := '[]';
    acts jsonb := '[{"value": "one"}, {"fail": "two failed"}, {"value": "three"}]';
BEGIN
    FOR i IN 0 .. 2 LOOP
        BEGIN
            results := results || jsonb_build_array(duroxide.call_activity(ctx, 'ErrWork', acts->i));
        EXCEPTION WHEN OTHERS THEN
            errors := errors || to_jsonb(SQLERRM);
        END;
    END LOOP;
    BEGIN
        PERFORM duroxide.sleep(ctx, 10);
    EXCEPTION WHEN OTHERS THEN
        errors := errors || to_jsonb('sleep: ' || SQLERRM);
    END;
    RETURN jsonb_build_object('results', results, 'errors', errors);
END
$$;
SELECT duroxide.register_orchestration('ErrSwallow', 'err.swallow');
SELECT duroxide.start_orchestration('err-10', 'ErrSwallow');
SELECT status, output, error FROM duroxide.wait_for_orchestration('err-10');
SELECT event_type, data->>'name' AS name FROM duroxide.get_history('err-10') ORDER BY event_id;

-- section: returning a value from WHEN OTHERS does not end the instance early
CREATE FUNCTION err.early_return(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        RETURN jsonb_build_object('result', duroxide.call_activity(ctx, 'ErrWork', '{"value": "real"}'));
    EXCEPTION WHEN OTHERS THEN
        RETURN '"swallowed"';
    END;
END
$$;
SELECT duroxide.register_orchestration('ErrEarlyReturn', 'err.early_return');
SELECT duroxide.start_orchestration('err-11', 'ErrEarlyReturn');
SELECT status, output FROM duroxide.wait_for_orchestration('err-11');

-- section: after a caught failure the orchestration goes on (compensation)
CREATE FUNCTION err.compensate(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    log jsonb := '[]';
BEGIN
    log := log || jsonb_build_array(duroxide.call_activity(ctx, 'ErrWork', '{"value": "reserved"}'));
    BEGIN
        log := log || jsonb_build_array(duroxide.call_activity(ctx, 'ErrWork', '{"fail": "charge failed"}'));
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        log := log || to_jsonb('error: ' || SQLERRM);
        log := log || jsonb_build_array(duroxide.call_activity(ctx, 'ErrWork', '{"value": "released"}'));
    END;
    RETURN log;
END
$$;
SELECT duroxide.register_orchestration('ErrCompensate', 'err.compensate');
SELECT duroxide.start_orchestration('err-12', 'ErrCompensate');
SELECT status, output FROM duroxide.wait_for_orchestration('err-12');

-- section: an orchestration that returns NULL completes with no output
CREATE FUNCTION err.returns_null(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
SELECT duroxide.register_orchestration('ErrReturnsNull', 'err.returns_null');
SELECT duroxide.start_orchestration('err-13', 'ErrReturnsNull');
SELECT status, output IS NULL AS output_is_null, error FROM duroxide.wait_for_orchestration('err-13');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
