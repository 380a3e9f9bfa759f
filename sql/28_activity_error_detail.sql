-- 28_activity_error_detail: a failed activity's SQLSTATE, detail and hint
-- are recorded in its ActivityFailed (and ActivityAttemptFailed) history
-- data, and the DX001 error that duroxide.await raises carries them: the
-- original SQLSTATE and detail in its detail, the hint as its hint.
\set SHOW_CONTEXT never
CREATE SCHEMA aed;

-- raises input.fail with input.state, input.detail and input.hint
CREATE FUNCTION aed.fail(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF input ? 'divide' THEN
        RETURN to_jsonb(1 / (input->>'divide')::int);
    END IF;
    RAISE EXCEPTION USING MESSAGE = input->>'fail', ERRCODE = coalesce(input->>'state', 'P0001'),
        DETAIL = coalesce(input->>'detail', ''), HINT = coalesce(input->>'hint', '');
END
$$;
SELECT duroxide.register_activity('AedFail', 'aed.fail');

-- calls AedFail (with a retry policy when input.retry is set) and returns
-- what it caught
CREATE FUNCTION aed.caller(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    detail text;
    hint text;
BEGIN
    BEGIN
        IF input ? 'retry' THEN
            RETURN duroxide.call_activity_with_retry(ctx, 'AedFail', input->'act', input->'retry');
        END IF;
        RETURN duroxide.call_activity(ctx, 'AedFail', input->'act');
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'detail', detail, 'hint', hint);
    END;
END
$$;
SELECT duroxide.register_orchestration('AedCaller', 'aed.caller');

-- section: SQLSTATE, detail and hint of the activity's own error
SELECT duroxide.start_orchestration('aed-1', 'AedCaller',
    '{"act": {"fail": "card declined", "state": "P0042", "detail": "the issuer said no", "hint": "use another card"}}');
SELECT status, jsonb_pretty(output) FROM duroxide.wait_for_orchestration('aed-1', 30000);
SELECT data->>'error' AS error, data->>'sqlstate' AS sqlstate, data->>'detail' AS detail, data->>'hint' AS hint
  FROM duroxide.get_history('aed-1') WHERE event_type = 'ActivityFailed';

-- section: a built-in error keeps its SQLSTATE (22012, division_by_zero)
SELECT duroxide.start_orchestration('aed-2', 'AedCaller', '{"act": {"divide": 0}}');
SELECT status, output->>'sqlstate' AS sqlstate, output->>'message' AS message, output->>'detail' AS detail,
       output->>'hint' AS hint
  FROM duroxide.wait_for_orchestration('aed-2', 30000);
SELECT data->>'sqlstate' AS sqlstate, data ? 'detail' AS has_detail, data ? 'hint' AS has_hint
  FROM duroxide.get_history('aed-2') WHERE event_type = 'ActivityFailed';

-- section: with retries, every attempt's failure keeps its SQLSTATE
SELECT duroxide.start_orchestration('aed-3', 'AedCaller',
    '{"act": {"fail": "busy", "state": "P0043", "detail": "try later"},
      "retry": {"maxAttempts": 2, "backoff": "none"}}');
SELECT status, output->>'sqlstate' AS sqlstate, output->>'detail' AS detail
  FROM duroxide.wait_for_orchestration('aed-3', 30000);
SELECT event_type, data->>'attempt' AS attempt, data->>'sqlstate' AS sqlstate, data->>'detail' AS detail
  FROM duroxide.get_history('aed-3') WHERE event_type LIKE 'Activity%Failed' ORDER BY event_id;

-- section: uncaught, the orchestration fails with the activity's message
CREATE FUNCTION aed.uncaught(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'AedFail', input);
END
$$;
SELECT duroxide.register_orchestration('AedUncaught', 'aed.uncaught');
SELECT duroxide.start_orchestration('aed-4', 'AedUncaught', '{"fail": "no stock", "state": "P0044"}');
SELECT status, error FROM duroxide.wait_for_orchestration('aed-4', 30000);
