-- 16_metrics: get_system_metrics, get_queue_depths and delete_instance.
-- Counts are compared with a snapshot taken at the start, so that the
-- instances of other test files do not matter.
\set SHOW_CONTEXT never
CREATE SCHEMA met;

CREATE FUNCTION met.fail(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'always fails'; END $$;
SELECT duroxide.register_activity('MetFail', 'met.fail');

-- input.mode: "complete" | "fail" | "wait" (for event "go") | "timer" | "retry" | "parent"
CREATE FUNCTION met.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    CASE input->>'mode'
        WHEN 'complete' THEN
            RETURN '"done"';
        WHEN 'fail' THEN
            RAISE EXCEPTION 'failed on purpose';
        WHEN 'wait' THEN
            RETURN duroxide.wait_for_event(ctx, 'go');
        WHEN 'timer' THEN
            PERFORM duroxide.sleep(ctx, 60000);
            RETURN '"slept"';
        WHEN 'retry' THEN
            RETURN duroxide.call_activity_with_retry(ctx, 'MetFail', NULL,
                '{"maxAttempts": 2, "backoff": "fixed", "initialDelayMs": 60000}');
        WHEN 'parent' THEN
            PERFORM duroxide.schedule_timer(ctx, 60000);
            RETURN duroxide.call_sub_orchestration(ctx, 'MetOrch', '{"mode": "wait"}',
                                                   ctx.instance_id || '-child');
    END CASE;
END
$$;
SELECT duroxide.register_orchestration('MetOrch', 'met.orch');

-- section: the metrics' keys
SELECT k FROM jsonb_object_keys(duroxide.get_system_metrics()) AS k ORDER BY k;
SELECT m AS before FROM duroxide.get_system_metrics() AS m \gset

-- section: counts by status
SELECT duroxide.start_orchestration('met-done-1', 'MetOrch', '{"mode": "complete"}');
SELECT duroxide.start_orchestration('met-done-2', 'MetOrch', '{"mode": "complete"}');
SELECT duroxide.start_orchestration('met-failed', 'MetOrch', '{"mode": "fail"}');
SELECT duroxide.start_orchestration('met-cancelled', 'MetOrch', '{"mode": "wait"}');
SELECT duroxide.start_orchestration('met-running', 'MetOrch', '{"mode": "wait"}');
CALL regress.wait_for_event_type('met-cancelled', 'EventSubscribed');
SELECT duroxide.cancel_orchestration('met-cancelled');
SELECT s.instance_id, s.status, s.error
  FROM unnest(ARRAY['met-done-1', 'met-done-2', 'met-failed', 'met-cancelled']) AS u(id),
       LATERAL duroxide.wait_for_orchestration(u.id) AS s
 ORDER BY 1;
CALL regress.wait_for_event_type('met-running', 'EventSubscribed');
SELECT k, (duroxide.get_system_metrics()->>k)::bigint - (:'before'::jsonb->>k)::bigint AS delta
  FROM unnest(ARRAY['total_instances', 'running_instances', 'completed_instances',
                    'failed_instances', 'cancelled_instances', 'total_executions',
                    'total_history_events']) AS k;
-- the counts add up
SELECT (m->>'total_instances')::bigint = (m->>'running_instances')::bigint
         + (m->>'completed_instances')::bigint + (m->>'failed_instances')::bigint
         + (m->>'cancelled_instances')::bigint AS counts_add_up
  FROM duroxide.get_system_metrics() AS m;

-- section: queue depths: ready messages, queued activity attempts, pending timers
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
-- a pending timer
SELECT duroxide.start_orchestration('met-timer', 'MetOrch', '{"mode": "timer"}');
CALL regress.wait_for_event_type('met-timer', 'TimerCreated');
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
-- an activity attempt queued for a retry a minute away
SELECT duroxide.start_orchestration('met-retry', 'MetOrch', '{"mode": "retry"}');
CALL regress.wait_for_event_type('met-retry', 'ActivityAttemptFailed');
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
-- a ready message (seen inside the transaction that queues it)
BEGIN;
SELECT duroxide.raise_event('met-running', 'go', '"x"');
SELECT * FROM duroxide.get_queue_depths();
ROLLBACK;

-- section: delete_instance refuses a running instance unless forced
SELECT duroxide.delete_instance('met-timer');
SELECT status FROM duroxide.get_orchestration_status('met-timer');
SELECT duroxide.delete_instance('met-timer', true);
SELECT status FROM duroxide.get_orchestration_status('met-timer');
SELECT count(*) FROM duroxide.get_history('met-timer', 1);
SELECT duroxide.delete_instance('met-retry', force => true);
-- their timer and their queued attempt are gone
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();

-- section: delete_instance deletes children, history and messages
SELECT duroxide.start_orchestration('met-parent', 'MetOrch', '{"mode": "parent"}');
CALL regress.wait_for_event_type('met-parent-child', 'EventSubscribed');
SELECT instance_id, status, parent_instance_id FROM duroxide.instances
 WHERE instance_id LIKE 'met-parent%' ORDER BY 1;
-- the parent's pending timer is a message in the queue
SELECT kind, count(*) FROM duroxide.orchestrator_queue WHERE instance_id LIKE 'met-parent%' GROUP BY kind;
SELECT count(*) > 0 AS has_history FROM duroxide.history WHERE instance_id = 'met-parent-child';
SELECT duroxide.delete_instance('met-parent');
SELECT duroxide.delete_instance('met-parent', true);
SELECT status FROM duroxide.get_orchestration_status('met-parent');
SELECT status FROM duroxide.get_orchestration_status('met-parent-child');
SELECT count(*) AS history FROM duroxide.history WHERE instance_id LIKE 'met-parent%';
SELECT count(*) AS executions FROM duroxide.executions WHERE instance_id LIKE 'met-parent%';
SELECT count(*) AS messages FROM duroxide.orchestrator_queue WHERE instance_id LIKE 'met-parent%';
SELECT count(*) AS attempts FROM duroxide.worker_queue WHERE instance_id LIKE 'met-parent%';

-- section: deleting terminal instances needs no force
SELECT duroxide.delete_instance('met-done-1');
SELECT duroxide.delete_instance('met-failed');
SELECT duroxide.delete_instance('met-cancelled');
SELECT s.status FROM unnest(ARRAY['met-done-1', 'met-failed', 'met-cancelled']) AS u(id),
       LATERAL duroxide.get_orchestration_status(u.id) AS s;
-- the id can be used again
SELECT duroxide.start_orchestration('met-done-1', 'MetOrch', '{"mode": "complete"}');
SELECT status, output, execution_id FROM duroxide.wait_for_orchestration('met-done-1');
SELECT count(*) FROM duroxide.get_history('met-done-1');

-- section: delete_instance errors
SELECT duroxide.delete_instance('met-no-such-instance');
SELECT duroxide.delete_instance(NULL);
SELECT duroxide.delete_instance('');

-- section: clean up and compare with the start
SELECT duroxide.raise_event('met-running', 'go', '"bye"');
SELECT status, output FROM duroxide.wait_for_orchestration('met-running');
SELECT k, (duroxide.get_system_metrics()->>k)::bigint - (:'before'::jsonb->>k)::bigint AS delta
  FROM unnest(ARRAY['total_instances', 'running_instances', 'completed_instances',
                    'failed_instances', 'cancelled_instances']) AS k;
CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
