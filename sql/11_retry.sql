-- 11_retry: retry policies (maxAttempts, backoff kinds, per-attempt and total
-- timeouts) and invalid policies.
\set SHOW_CONTEXT never
CREATE SCHEMA rty;
CREATE TABLE rty.attempts (instance_id text, attempt int);

-- fails until attempt input.succeed_on (never when absent);
-- sleeps input.sleep_ms on attempts before input.sleep_until (default: always)
CREATE FUNCTION rty.flaky(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    -- the attempt row commits only with a successful attempt
    INSERT INTO rty.attempts VALUES (ctx.instance_id, ctx.attempt);
    IF input ? 'sleep_ms' AND ctx.attempt < coalesce((input->>'sleep_until')::int, 1000000) THEN
        PERFORM pg_sleep((input->>'sleep_ms')::int / 1000.0);
    END IF;
    IF ctx.attempt < coalesce((input->>'succeed_on')::int, 1000000) THEN
        RAISE EXCEPTION 'attempt % failed', ctx.attempt;
    END IF;
    RETURN jsonb_build_object('succeeded_on', ctx.attempt);
END
$$;
SELECT duroxide.register_activity('RetryFlaky', 'rty.flaky');

CREATE FUNCTION rty.caller(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity_with_retry(ctx, 'RetryFlaky', input->'act', input->'policy');
END
$$;
SELECT duroxide.register_orchestration('RetryCaller', 'rty.caller');

-- the attempts recorded in an instance's history
CREATE FUNCTION rty.attempt_events(id text)
RETURNS TABLE (event_type text, attempt jsonb, error text, retry_delay_ms jsonb)
LANGUAGE sql AS $$
    SELECT h.event_type, h.data->'attempt', h.data->>'error', h.data->'retry_delay_ms'
      FROM duroxide.get_history(id) h
     WHERE h.event_type IN ('ActivityAttemptFailed', 'ActivityFailed', 'ActivityCompleted')
     ORDER BY h.event_id
$$;

-- section: fixed backoff, succeeds on the third attempt
SELECT duroxide.start_orchestration('rty-1', 'RetryCaller', '{"act": {"succeed_on": 3},
    "policy": {"maxAttempts": 5, "backoff": "fixed", "initialDelayMs": 20}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-1');
SELECT * FROM rty.attempt_events('rty-1');
SELECT event_type FROM duroxide.get_history('rty-1') ORDER BY event_id;
-- each attempt waited at least its delay after the previous failure
SELECT bool_and(n.created_at - p.created_at >= interval '20 ms') AS waited
  FROM duroxide.get_history('rty-1') p
  JOIN duroxide.get_history('rty-1') n ON n.event_id = p.event_id + 1
 WHERE p.event_type = 'ActivityAttemptFailed';

-- section: no backoff
SELECT duroxide.start_orchestration('rty-2', 'RetryCaller', '{"act": {"succeed_on": 3},
    "policy": {"maxAttempts": 3, "backoff": "none", "initialDelayMs": 5000}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-2');
SELECT * FROM rty.attempt_events('rty-2');

-- section: linear backoff
SELECT duroxide.start_orchestration('rty-3', 'RetryCaller', '{"act": {"succeed_on": 4},
    "policy": {"maxAttempts": 4, "backoff": "linear", "initialDelayMs": 10}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-3');
SELECT * FROM rty.attempt_events('rty-3');

-- section: exponential backoff, capped by maxDelayMs
SELECT duroxide.start_orchestration('rty-4', 'RetryCaller', '{"act": {"succeed_on": 5},
    "policy": {"maxAttempts": 5, "backoff": "exponential", "initialDelayMs": 10, "maxDelayMs": 50}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-4');
SELECT * FROM rty.attempt_events('rty-4');

-- section: exponential is the default backoff
SELECT duroxide.start_orchestration('rty-5', 'RetryCaller', '{"act": {"succeed_on": 3},
    "policy": {"maxAttempts": 3, "initialDelayMs": 15}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-5');
SELECT * FROM rty.attempt_events('rty-5');

-- section: every attempt fails: the task fails with the last error
SELECT duroxide.start_orchestration('rty-6', 'RetryCaller', '{"act": {},
    "policy": {"maxAttempts": 3, "backoff": "fixed", "initialDelayMs": 10}}');
SELECT status, error FROM duroxide.wait_for_orchestration('rty-6');
SELECT * FROM rty.attempt_events('rty-6');
-- failed attempts rolled back their writes
SELECT count(*) FROM rty.attempts WHERE instance_id = 'rty-6';
SELECT instance_id, attempt FROM rty.attempts WHERE instance_id IN ('rty-1', 'rty-4') ORDER BY 1, 2;

-- section: maxAttempts 1 means no retry
SELECT duroxide.start_orchestration('rty-7', 'RetryCaller', '{"act": {},
    "policy": {"maxAttempts": 1}}');
SELECT status, error FROM duroxide.wait_for_orchestration('rty-7');
SELECT * FROM rty.attempt_events('rty-7');

-- section: success on the first attempt records no failed attempt
SELECT duroxide.start_orchestration('rty-8', 'RetryCaller', '{"act": {"succeed_on": 1},
    "policy": {"maxAttempts": 3}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-8');
SELECT * FROM rty.attempt_events('rty-8');

-- section: timeoutMs bounds each attempt; a timed-out attempt is retried
SELECT duroxide.start_orchestration('rty-9', 'RetryCaller',
    '{"act": {"sleep_ms": 3000, "sleep_until": 2, "succeed_on": 1},
      "policy": {"maxAttempts": 3, "backoff": "none", "timeoutMs": 100}}');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-9');
SELECT * FROM rty.attempt_events('rty-9');
-- the timed-out attempt was rolled back
SELECT attempt FROM rty.attempts WHERE instance_id = 'rty-9';
-- every attempt times out: the last error says so
SELECT duroxide.start_orchestration('rty-10', 'RetryCaller',
    '{"act": {"sleep_ms": 3000, "succeed_on": 1},
      "policy": {"maxAttempts": 2, "backoff": "fixed", "initialDelayMs": 10, "timeoutMs": 100}}');
SELECT status, error FROM duroxide.wait_for_orchestration('rty-10');
SELECT * FROM rty.attempt_events('rty-10');

-- section: totalTimeoutMs bounds all attempts together
SELECT duroxide.start_orchestration('rty-11', 'RetryCaller', '{"act": {},
    "policy": {"maxAttempts": 1000, "backoff": "fixed", "initialDelayMs": 50, "totalTimeoutMs": 300}}');
SELECT status, error ~ '^attempt [0-9]+ failed$' AS last_error FROM duroxide.wait_for_orchestration('rty-11');
SELECT count(*) BETWEEN 1 AND 8 AS attempts_bounded
  FROM duroxide.get_history('rty-11') WHERE event_type IN ('ActivityAttemptFailed', 'ActivityFailed');

-- section: schedule_activity_with_retry returns a task
CREATE FUNCTION rty.scheduled(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t duroxide.task;
BEGIN
    t := duroxide.schedule_activity_with_retry(ctx, 'RetryFlaky', '{"succeed_on": 2}',
                                               '{"maxAttempts": 2, "backoff": "none"}');
    RETURN jsonb_build_object('kind', t.kind, 'result', duroxide.await(t));
END
$$;
SELECT duroxide.register_orchestration('RetryScheduled', 'rty.scheduled');
SELECT duroxide.start_orchestration('rty-12', 'RetryScheduled');
SELECT status, output FROM duroxide.wait_for_orchestration('rty-12');

-- section: invalid retry policies fail the instance
SELECT duroxide.start_orchestration('rty-bad-1', 'RetryCaller', '{"act": {}, "policy": {"maxAttempts": 3, "retries": 2}}');
SELECT duroxide.start_orchestration('rty-bad-2', 'RetryCaller', '{"act": {}, "policy": {"maxAttempts": 0}}');
SELECT duroxide.start_orchestration('rty-bad-3', 'RetryCaller', '{"act": {}, "policy": {"backoff": "random"}}');
SELECT duroxide.start_orchestration('rty-bad-4', 'RetryCaller', '{"act": {}, "policy": [3]}');
SELECT duroxide.start_orchestration('rty-bad-5', 'RetryCaller', '{"act": {}, "policy": "3 times"}');
SELECT duroxide.start_orchestration('rty-bad-6', 'RetryCaller', '{"act": {}}');
SELECT duroxide.start_orchestration('rty-bad-7', 'RetryCaller', '{"act": {}, "policy": {"maxAttempts": "3"}}');
SELECT duroxide.start_orchestration('rty-bad-8', 'RetryCaller', '{"act": {}, "policy": {"initialDelayMs": -1}}');
SELECT duroxide.start_orchestration('rty-bad-9', 'RetryCaller', '{"act": {}, "policy": {"backoff": 2}}');
SELECT duroxide.start_orchestration('rty-bad-10', 'RetryCaller', '{"act": {}, "policy": {"timeoutMs": -5}}');
SELECT s.instance_id, s.status, s.error
  FROM unnest(ARRAY['rty-bad-1', 'rty-bad-2', 'rty-bad-3', 'rty-bad-4', 'rty-bad-5',
                    'rty-bad-6', 'rty-bad-7', 'rty-bad-8', 'rty-bad-9', 'rty-bad-10'])
       WITH ORDINALITY AS u(id, n),
       LATERAL duroxide.wait_for_orchestration(u.id) AS s
 ORDER BY u.n;
-- nothing was scheduled for them
SELECT count(*) FROM duroxide.history
 WHERE instance_id LIKE 'rty-bad-%' AND event_type = 'ActivityScheduled';

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
