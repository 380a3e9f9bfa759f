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

-- section: in-database activity workers never run an external task: an
-- in-database activity queued after it completes, the task stays untouched
SELECT duroxide.start_orchestration('ext-3', 'ExtCall', '{"activity": "ExtEcho", "arg": 3}');
CALL regress.wait_for_event_type('ext-3', 'ActivityScheduled');
SELECT duroxide.start_orchestration('ext-indb', 'ExtCall', '{"activity": "ExtInDb", "arg": "in db"}');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-indb', 30000);
SELECT task_queue, delivery_count, lease_token IS NULL AS unleased, claim_boot IS NULL AS unclaimed
  FROM duroxide.worker_queue WHERE instance_id = 'ext-3';

-- section: queue depths and the task_queues view count external tasks
SELECT worker_queue FROM duroxide.get_queue_depths();
SELECT task_queue, pending, leased, oldest_pending_at IS NOT NULL AS has_oldest
  FROM duroxide.task_queues WHERE task_queue IN ('ext-q', 'default') ORDER BY 1;

-- section: heartbeat extends the lease; release gives the task back without
-- counting the delivery; the released lease is dead
SELECT task_id AS t3, lease_token AS l3, lease_expires_at AS e3
  FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 10000, 0) \gset
SELECT task_queue, pending, leased FROM duroxide.task_queues WHERE task_queue = 'ext-q';
SELECT duroxide.heartbeat_task(:t3, :'l3', 60000);
SELECT lease_expires_at > :'e3'::timestamptz + interval '30 s' AS extended FROM duroxide.worker_queue WHERE id = :t3;
SELECT duroxide.release_task(:t3, :'l3');
SELECT delivery_count, lease_token IS NULL AS unleased, worker_id FROM duroxide.worker_queue WHERE id = :t3;
SELECT duroxide.heartbeat_task(:t3, :'l3');
SELECT task_id = :t3 AS same_task, lease_token <> :'l3' AS new_token, attempt
  FROM duroxide.claim_tasks('ext-q', 'worker-b', 1, 1, 0);

-- section: an expired lease makes the task claimable again (a new delivery);
-- the old lease can neither complete nor extend it
SELECT task_id AS t3b, lease_token AS l3b FROM duroxide.claim_tasks('ext-q', 'worker-c', 1, 30000, 30000) \gset
SELECT :t3b = :t3 AS same_task;
SELECT delivery_count, worker_id FROM duroxide.worker_queue WHERE id = :t3;
SELECT duroxide.complete_task(:t3, :'l3', '"stale"');
SELECT duroxide.complete_task(:t3b, :'l3b', '"fresh"');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-3', 30000);

-- section: max_tasks bounds one claim; a fan-out's tasks go to several claims
CREATE FUNCTION ext.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.await_all(ARRAY[duroxide.schedule_activity(ctx, 'ExtEcho', '1'),
                                    duroxide.schedule_activity(ctx, 'ExtEcho', '2'),
                                    duroxide.schedule_activity(ctx, 'ExtEcho', '3')]);
END $$;
SELECT duroxide.register_orchestration('ExtFan', 'ext.fan');
SELECT duroxide.start_orchestration('ext-fan', 'ExtFan');
CREATE TEMP TABLE claimed AS SELECT *, 1 AS claim FROM duroxide.claim_tasks('ext-q', 'worker-a', 2, 30000, 30000);
INSERT INTO claimed SELECT *, 2 FROM duroxide.claim_tasks('ext-q', 'worker-b', 2, 30000, 30000);
SELECT claim, count(*) FROM claimed GROUP BY claim ORDER BY claim;
SELECT bool_and(duroxide.complete_task(task_id, lease_token, jsonb_build_object('echo', input)))
  FROM claimed;
SELECT status, output FROM duroxide.wait_for_orchestration('ext-fan', 30000);

-- section: complete_tasks completes many in one call; each element is what
-- complete_task would return
SELECT duroxide.start_orchestration('ext-fan2', 'ExtFan');
CREATE TEMP TABLE claimed2 AS SELECT * FROM duroxide.claim_tasks('ext-q', 'worker-a', 3, 30000, 30000);
SELECT count(*) FROM claimed2;
SET duroxide.max_payload_size = 1024;
-- oversized results: an error, nothing recorded
SELECT duroxide.complete_tasks(array_agg(task_id ORDER BY task_id), array_agg(lease_token ORDER BY task_id),
                               array_agg(jsonb_build_object('big', repeat('x', 2000)) ORDER BY task_id))
  FROM claimed2;
RESET duroxide.max_payload_size;
SELECT count(*) AS still_leased FROM duroxide.worker_queue w JOIN claimed2 c ON c.task_id = w.id;
-- the last token is wrong: true, true, false
SELECT duroxide.complete_tasks(array_agg(task_id ORDER BY task_id),
                               array_agg(CASE WHEN task_id = (SELECT max(task_id) FROM claimed2)
                                              THEN gen_random_uuid() ELSE lease_token END ORDER BY task_id),
                               array_agg(jsonb_build_object('many', input) ORDER BY task_id))
  FROM claimed2;
SELECT duroxide.complete_task(task_id, lease_token, '{"one": 3}') FROM claimed2
 WHERE task_id = (SELECT max(task_id) FROM claimed2);
SELECT status, output FROM duroxide.wait_for_orchestration('ext-fan2', 30000);
SELECT duroxide.complete_tasks('{}', '{}', '{}');

-- section: a retry policy's timeoutMs bounds each attempt from its lease: the
-- lease never outlives it, heartbeats included, and the attempt that runs out
-- fails as timed out (then is retried)
SELECT duroxide.start_orchestration('ext-timeout', 'ExtCallRetry',
    '{"activity": "ExtEcho", "arg": 4, "retry": {"maxAttempts": 2, "timeoutMs": 2000, "backoff": "none"}}');
SELECT task_id AS t4, lease_token AS l4, attempt FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
\echo attempt :attempt
SELECT duroxide.heartbeat_task(:t4, :'l4', 60000);
SELECT lease_expires_at - leased_at AS lease_length FROM duroxide.worker_queue WHERE id = :t4;
-- waits until the lease runs out at 2 s, ends the attempt and returns
SELECT count(*) AS leased FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000);
SELECT duroxide.complete_task(:t4, :'l4', '"too late"');
SELECT task_id AS t5, lease_token AS l5, attempt FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
\echo attempt :attempt
SELECT duroxide.complete_task(:t5, :'l5', '"in time"');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-timeout', 30000);
SELECT event_type, data - 'retry_delay_ms' AS data FROM duroxide.get_history('ext-timeout')
 WHERE event_type LIKE 'Activity%' ORDER BY event_id;

-- section: a failure reported by fail_task is retried by the retry policy: the
-- next attempt is a new task of the same activity_id
SELECT duroxide.start_orchestration('ext-retry', 'ExtCallRetry',
    '{"activity": "ExtEcho", "arg": 6, "retry": {"maxAttempts": 2, "backoff": "none"}}');
SELECT task_id AS t10, lease_token AS l10, activity_id AS a10, attempt FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
\echo attempt :attempt
SELECT duroxide.fail_task(:t10, :'l10', 'try again');
SELECT task_id <> :t10 AS new_task, activity_id = :a10 AS same_activity, attempt, lease_token AS l11, task_id AS t11
  FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
\echo :new_task :same_activity :attempt
SELECT duroxide.complete_task(:t11, :'l11', '"second time"');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-retry', 30000);
SELECT event_type, data->>'error' AS error FROM duroxide.get_history('ext-retry')
 WHERE event_type = 'ActivityAttemptFailed';

-- section: after duroxide.max_attempts (10) deliveries without an outcome the
-- attempt fails as poison
SELECT duroxide.start_orchestration('ext-poison', 'ExtCall', '{"activity": "ExtEcho", "arg": 5}');
CALL regress.wait_for_event_type('ext-poison', 'ActivityScheduled');
DO $$
DECLARE
    deliveries integer := 0;
    n integer;
BEGIN
    FOR i IN 1 .. 100 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM duroxide.worker_queue WHERE instance_id = 'ext-poison');
        -- a 1 ms lease; the claim waits for the last one to expire
        SELECT count(*) INTO n FROM duroxide.claim_tasks('ext-q', 'crashing-worker', 1, 1, 1000);
        deliveries := deliveries + n;
    END LOOP;
    RAISE NOTICE 'delivered % times', deliveries;
END
$$;
SELECT status, output FROM duroxide.wait_for_orchestration('ext-poison', 30000);

-- section: withdrawal: a task that loses an await_any is withdrawn, its lease
-- is dead
SELECT duroxide.start_orchestration('ext-race', 'ExtRace', '"r"');
SELECT task_id AS t6, lease_token AS l6 FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
SELECT duroxide.raise_event('ext-race', 'go', '"event won"');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-race', 30000);
CALL regress.settle();
SELECT count(*) AS tasks_left FROM duroxide.worker_queue WHERE instance_id = 'ext-race';
SELECT duroxide.heartbeat_task(:t6, :'l6');
SELECT duroxide.complete_task(:t6, :'l6', '"lost"');

-- section: withdrawal: cancelling the orchestration withdraws its leased task
SELECT duroxide.start_orchestration('ext-cancel', 'ExtCall', '{"activity": "ExtEcho", "arg": 7}');
SELECT task_id AS t7, lease_token AS l7 FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
SELECT duroxide.cancel_orchestration('ext-cancel', 'no longer needed');
SELECT status, error FROM duroxide.wait_for_orchestration('ext-cancel', 30000);
SELECT count(*) AS tasks_left FROM duroxide.worker_queue WHERE instance_id = 'ext-cancel';
SELECT duroxide.heartbeat_task(:t7, :'l7');
SELECT duroxide.fail_task(:t7, :'l7', 'cancelled');
SELECT duroxide.release_task(:t7, :'l7');

-- section: results and error texts obey duroxide.max_payload_size: an error
-- at the call, nothing recorded, the lease still holds
SELECT duroxide.start_orchestration('ext-big', 'ExtCall', '{"activity": "ExtEcho", "arg": 8}');
SELECT task_id AS t8, lease_token AS l8 FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
SET duroxide.max_payload_size = 1024;
SELECT duroxide.complete_task(:t8, :'l8', jsonb_build_object('big', repeat('x', 2000)));
SELECT duroxide.fail_task(:t8, :'l8', repeat('e', 2000));
RESET duroxide.max_payload_size;
SELECT duroxide.heartbeat_task(:t8, :'l8');
SELECT duroxide.complete_task(:t8, :'l8', '"small"');
SELECT status, output FROM duroxide.wait_for_orchestration('ext-big', 30000);

-- section: a failure without a text gets one naming the activity
SELECT duroxide.start_orchestration('ext-notext', 'ExtCall', '{"activity": "ExtEcho", "arg": 9}');
SELECT task_id AS t9, lease_token AS l9 FROM duroxide.claim_tasks('ext-q', 'worker-a', 1, 30000, 30000) \gset
SELECT duroxide.fail_task(:t9, :'l9', NULL);
SELECT status, output FROM duroxide.wait_for_orchestration('ext-notext', 30000);

-- section: a long poll on an empty queue returns no rows after wait_ms
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
    n integer;
BEGIN
    SELECT count(*) INTO n FROM duroxide.claim_tasks('ext-empty', 'worker-a', 1, 1000, 200);
    RAISE NOTICE 'claimed %, waited at least 200 ms: %', n, clock_timestamp() - t0 >= interval '200 ms';
END
$$;

-- section: re-registering replaces: in-database <-> external
SELECT duroxide.register_activity('ExtSwap', 'regress.echo');
SELECT duroxide.register_external_activity('ExtSwap', 'swap-q');
SELECT fn IS NULL AS no_fn, task_queue FROM duroxide.activities WHERE name = 'ExtSwap';
SELECT duroxide.register_activity('ExtSwap', 'regress.echo');
SELECT fn IS NULL AS no_fn, task_queue FROM duroxide.activities WHERE name = 'ExtSwap';
SELECT duroxide.unregister_activity('ExtSwap');

-- section: errors (SQLSTATE first, then the messages)
\set VERBOSITY sqlstate
SELECT duroxide.register_external_activity(NULL, 'q');
SELECT duroxide.register_external_activity('ExtX', NULL);
SELECT duroxide.register_external_activity('ExtX', repeat('q', 2000));
SELECT * FROM duroxide.claim_tasks(NULL, 'w');
SELECT * FROM duroxide.claim_tasks('q', '');
SELECT * FROM duroxide.claim_tasks('q', 'w', 0);
SELECT * FROM duroxide.claim_tasks('q', 'w', 1001);
SELECT * FROM duroxide.claim_tasks('q', 'w', 1, 0);
SELECT * FROM duroxide.claim_tasks('q', 'w', 1, 1000, -1);
SELECT * FROM duroxide.claim_tasks('q', 'w', NULL);
SELECT duroxide.complete_task(NULL, gen_random_uuid(), '1');
SELECT duroxide.heartbeat_task(1, gen_random_uuid(), 0);
SELECT duroxide.complete_tasks(ARRAY[1, 2], ARRAY[gen_random_uuid()], ARRAY['1'::jsonb, '2']);
SELECT duroxide.complete_tasks(ARRAY[1, NULL], ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY['1'::jsonb, '2']);
SELECT duroxide.complete_tasks(NULL, NULL, NULL);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM duroxide.claim_tasks('q', 'w', 1, 1000, 10);
ROLLBACK;
SET statement_timeout = '200ms';
SELECT * FROM duroxide.claim_tasks('ext-empty', 'w', 1, 1000, 60000);
RESET statement_timeout;
\set VERBOSITY default
SELECT duroxide.register_external_activity('ExtX', '');
SELECT * FROM duroxide.claim_tasks('q', 'w', 0);
SELECT * FROM duroxide.claim_tasks('q', 'w', 1, 0);
SELECT * FROM duroxide.claim_tasks('q', 'w', 1, 1000, 86400001);
SELECT duroxide.release_task(1, NULL);
SELECT duroxide.complete_tasks(ARRAY[1, 2], ARRAY[gen_random_uuid()], ARRAY['1'::jsonb, '2']);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM duroxide.claim_tasks('q', 'w', 1, 1000, 10);
ROLLBACK;
-- without waiting, REPEATABLE READ is fine
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM duroxide.claim_tasks('q', 'w', 1, 1000, 0);
ROLLBACK;
-- unknown tasks and tokens: false, never an error
SELECT duroxide.complete_task(-1, gen_random_uuid(), '1'), duroxide.fail_task(-1, gen_random_uuid(), 'x'),
       duroxide.heartbeat_task(-1, gen_random_uuid()), duroxide.release_task(-1, gen_random_uuid());

-- section: clean up
SELECT duroxide.delete_instance(i, true)
  FROM unnest(ARRAY['ext-1', 'ext-2', 'ext-3', 'ext-indb', 'ext-fan', 'ext-fan2', 'ext-timeout', 'ext-retry', 'ext-poison',
                    'ext-race', 'ext-cancel', 'ext-big', 'ext-notext']) i;
SELECT count(*) AS tasks_left FROM duroxide.worker_queue WHERE task_queue IS NOT NULL;
