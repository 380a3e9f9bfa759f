-- external_nopreload: the external worker protocol on a server where
-- duroxide is not preloaded: no latch is ever set for a waiting claim, so
-- claim_tasks waits by polling at duroxide.poll_interval, and still
-- returns a task as soon as it finds one.
\set SHOW_CONTEXT never
CREATE EXTENSION duroxide;
SET client_min_messages = error;
CREATE SCHEMA npx;
CREATE FUNCTION npx.wf(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'NpxTask', input); END $$;
SELECT duroxide.register_external_activity('NpxTask', 'npx');
SELECT duroxide.register_orchestration('NpxWf', 'npx.wf');
SELECT duroxide.start_orchestration('npx-1', 'NpxWf', '"in"');
SELECT duroxide._dispatch_batch(0) AS turns;

-- section: claim (the task is there: no wait), complete, run the turn by hand
SELECT task_id AS t, lease_token AS l, input FROM duroxide.claim_tasks('npx', 'w', 1, 30000, 5000) \gset
\echo :input
SELECT duroxide.complete_task(:t, :'l', '"out"');
SELECT duroxide._dispatch_batch(0) AS turns;
SELECT status, output FROM duroxide.get_orchestration_status('npx-1');

-- section: a wait on an empty queue ends at wait_ms
RESET client_min_messages;
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
    n integer;
BEGIN
    SELECT count(*) INTO n FROM duroxide.claim_tasks('npx', 'w', 1, 30000, 300);
    RAISE NOTICE 'claimed %, waited at least 300 ms: %', n, clock_timestamp() - t0 >= interval '300 ms';
END
$$;

SELECT duroxide.delete_instance('npx-1');
DROP SCHEMA npx CASCADE;
SELECT duroxide.unregister_activity('NpxTask');
DROP EXTENSION duroxide;
