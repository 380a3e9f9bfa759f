-- 47_external_limits: set_activity_concurrency (API.md 8.3) holds for
-- external leases too.  This session plays the external workers: it claims
-- the tasks of a limited external activity with claim_tasks and reports
-- them; a lease holds a slot until it is completed, failed or released, or
-- until it expires.
\set SHOW_CONTEXT never
CREATE SCHEMA xl;
-- six tasks of the external activity, awaited together
CREATE FUNCTION xl.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1 .. 6 LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'XlTask', to_jsonb(i));
    END LOOP;
    RETURN duroxide.await_all_settled(tasks);
END $$;
SELECT duroxide.register_orchestration('XlFan', 'xl.fan');
SELECT duroxide.register_external_activity('XlTask', 'xl-q');
SELECT duroxide.set_activity_concurrency('XlTask', 1);

-- wait (bounded) until the queue holds n tasks
CREATE PROCEDURE xl.wait_tasks(n integer)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        EXIT WHEN (SELECT count(*) FROM duroxide.worker_queue WHERE task_queue = 'xl-q') = n;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;

-- section: a limit of 1: one lease at a time, whatever max_tasks asks
SELECT duroxide.start_orchestration('xl-1', 'XlFan');
CALL xl.wait_tasks(6);
SELECT task_id AS a, lease_token AS al FROM duroxide.claim_tasks('xl-q', 'worker-a', 10) \gset
SELECT count(*) AS second_worker FROM duroxide.claim_tasks('xl-q', 'worker-b', 10);
-- a long poll while the slot is taken returns nothing at its deadline
SELECT count(*) AS waited FROM duroxide.claim_tasks('xl-q', 'worker-b', 10, 30000, 300);
-- completed: the slot is free
SELECT duroxide.complete_task(:a, :'al', '"a"');
SELECT task_id AS b, lease_token AS bl FROM duroxide.claim_tasks('xl-q', 'worker-b', 10) \gset
SELECT count(*) AS while_b FROM duroxide.claim_tasks('xl-q', 'worker-a', 10);
-- released: the slot is free
SELECT duroxide.release_task(:b, :'bl');
SELECT task_id AS x, lease_token AS xl FROM duroxide.claim_tasks('xl-q', 'worker-a', 10) \gset
SELECT count(*) AS while_x FROM duroxide.claim_tasks('xl-q', 'worker-b', 10);
-- failed: the slot is free
SELECT duroxide.fail_task(:x, :'xl', 'failed, and the slot is free');
SELECT task_id AS y, lease_token AS yl FROM duroxide.claim_tasks('xl-q', 'worker-a', 10, 1) \gset
-- a lease of 1 ms expires: the slot is free again
SELECT pg_sleep(0.01);
SELECT count(*) AS after_expiry FROM duroxide.claim_tasks('xl-q', 'worker-b', 10);
SELECT duroxide.complete_task(:y, :'yl', '"too late"') AS expired_lease_completes;

-- section: a limit of 3 with one lease held (worker-b's): two more; then the
-- limit removed: the three other tasks, once their 1 ms leases expired
SELECT duroxide.set_activity_concurrency('XlTask', 3);
SELECT count(*) AS with_three FROM duroxide.claim_tasks('xl-q', 'worker-a', 10, 1);
SELECT duroxide.set_activity_concurrency('XlTask', NULL);
SELECT pg_sleep(0.01);
SELECT count(*) AS unlimited FROM duroxide.claim_tasks('xl-q', 'worker-a', 10);
SELECT count(*) AS tasks_left FROM duroxide.worker_queue WHERE task_queue = 'xl-q';

-- section: cleanup
SELECT duroxide.delete_instance('xl-1', true);
SELECT count(*) AS left_over FROM duroxide.worker_queue WHERE task_queue = 'xl-q';
SELECT duroxide.unregister_orchestration('XlFan');
SELECT duroxide.unregister_activity('XlTask');
DROP SCHEMA xl CASCADE;
