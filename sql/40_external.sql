-- 40_external: external activities (API.md section 7.1). This session plays
-- the external worker: it claims the tasks the background dispatchers queue,
-- and completes, fails, heartbeats and releases them.
\set SHOW_CONTEXT never
CREATE SCHEMA ext;
CREATE FUNCTION ext.call(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('got', duroxide.call_activity(ctx, input->>'activity', input->'arg'));
EXCEPTION WHEN SQLSTATE 'DX001' THEN
    RETURN jsonb_build_object('caught', SQLERRM);
END $$;
CREATE FUNCTION ext.call_retry(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('got', duroxide.call_activity_with_retry(ctx, input->>'activity', input->'arg', input->'retry'));
EXCEPTION WHEN SQLSTATE 'DX001' THEN
    RETURN jsonb_build_object('caught', SQLERRM);
END $$;
-- the external task races a timer
CREATE FUNCTION ext.race(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM duroxide.await_any(ARRAY[duroxide.schedule_activity(ctx, 'ExtEcho', input),
                                                  duroxide.schedule_wait_for_event(ctx, 'go')]);
    RETURN jsonb_build_object('index', r.index, 'value', r.value);
END $$;
SELECT duroxide.register_orchestration('ExtCall', 'ext.call');
SELECT duroxide.register_orchestration('ExtCallRetry', 'ext.call_retry');
SELECT duroxide.register_orchestration('ExtRace', 'ext.race');
SELECT duroxide.register_activity('ExtInDb', 'regress.echo');

-- section: registration; the default queue is 'default'
SELECT duroxide.register_external_activity('ExtEcho', 'ext-q');
SELECT duroxide.register_external_activity('ExtDefault');
SELECT name, fn, task_queue, owner FROM duroxide.activities WHERE name LIKE 'Ext%' ORDER BY name;

-- section: a task is claimed (long poll: the claim waits for the dispatcher's
-- commit), completed, and the orchestration sees the result
SELECT duroxide.start_orchestration('ext-1', 'ExtCall', '{"activity": "ExtEcho", "arg": {"x": 1}}');
SELECT task_id AS t1, lease_token AS l1, activity_name, input, instance_id, execution_id,
       orchestration_name, orchestration_version, attempt,
       lease_expires_at > now() + interval '20 s' AS leased_30s
  FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
\echo :activity_name :input :instance_id :execution_id :orchestration_name :orchestration_version :attempt :leased_30s
SELECT worker_id, delivery_count, task_queue FROM duroxide.worker_queue WHERE id = :t1;
SELECT duroxide.complete_task(:t1, :'l1', '{"done": true}');
-- only the first report counts
SELECT duroxide.complete_task(:t1, :'l1', '{"done": "again"}');
SELECT duroxide.fail_task(:t1, :'l1', 'late');
SELECT duroxide.heartbeat_task(:t1, :'l1');
SELECT duroxide.release_task(:t1, :'l1');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-1', 30000);

-- section: fail_task fails the attempt with DX001 and the error text
SELECT duroxide.start_orchestration('ext-2', 'ExtCall', '{"activity": "ExtEcho", "arg": 2}');
SELECT task_id AS t2, lease_token AS l2 FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
SELECT duroxide.fail_task(:t2, :'l2', 'card declined');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-2', 30000);
SELECT event_type, data - 'attempt' AS data FROM duroxide.get_history('ext-2') WHERE event_type LIKE 'Activity%' ORDER BY event_id;
