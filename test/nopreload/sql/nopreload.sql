-- nopreload: CREATE EXTENSION and every SQL function on a server where
-- duroxide is not in shared_preload_libraries (API.md section 6): the
-- functions work, start_orchestration warns that no worker runs, and the
-- turns and attempts can still be run by hand (_dispatch_batch and
-- _activity_batch, as a superuser).
\set SHOW_CONTEXT never
SHOW shared_preload_libraries;
CREATE EXTENSION duroxide;

-- section: the settings are readable, including the start-time ones
SHOW duroxide.database;
SHOW duroxide.orchestration_concurrency;
SHOW duroxide.worker_concurrency;
SHOW duroxide.poll_interval;
SHOW duroxide.history_cache_size;
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'duroxide.%' ORDER BY name;
-- a session cannot change a start-time setting
SET duroxide.database = 'elsewhere';

-- section: no engine process runs
SELECT duroxide._workers_running();
SELECT count(*) FROM duroxide.workers;

-- section: registration
CREATE SCHEMA np;
CREATE FUNCTION np.greet(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.trace_info(ctx, 'greeting ' || (input->>'name'));
    RETURN to_jsonb('Hello, ' || (input->>'name') || '!');
END
$$;
CREATE FUNCTION np.wf(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    g jsonb;
    e jsonb;
BEGIN
    PERFORM duroxide.trace_info(ctx, 'started');
    PERFORM duroxide.set_custom_status(ctx, '"greeting"');
    g := duroxide.call_activity(ctx, 'NpGreet', input);
    e := duroxide.wait_for_event(ctx, 'ok');
    RETURN jsonb_build_object('greeting', g, 'event', e, 'replaying', duroxide.is_replaying(ctx),
                              'guid_is_uuid', duroxide.new_guid(ctx) IS NOT NULL,
                              'now_known', duroxide.utc_now(ctx) IS NOT NULL);
END
$$;
SELECT duroxide.register_activity('NpGreet', 'np.greet');
SELECT duroxide.register_orchestration('NpWf', 'np.wf');
SELECT duroxide.register_orchestration('NpWf', 'np.wf', '2.0.0');
SELECT duroxide.unregister_orchestration('NpWf', '2.0.0');
SELECT name, version FROM duroxide.orchestrations ORDER BY 1, 2;

-- section: start_orchestration works and warns
SELECT duroxide.start_orchestration('np-1', 'NpWf', '{"name": "Ada"}');
SELECT status FROM duroxide.get_orchestration_status('np-1');
SELECT * FROM duroxide.get_queue_depths();

-- section: waiting times out (DX004): nothing runs the instance
SELECT status FROM duroxide.wait_for_orchestration('np-1', 30);

-- section: turns and attempts run by hand
SELECT duroxide._dispatch_batch(0) AS turns;
SELECT duroxide._activity_batch(0) AS attempts;
SELECT duroxide._dispatch_batch(0) AS turns;
SELECT duroxide.raise_event('np-1', 'ok', '"fine"');
SELECT duroxide._dispatch_batch(0) AS turns;
SELECT status, output FROM duroxide.wait_for_orchestration('np-1', 1000);
SELECT event_type FROM duroxide.get_history('np-1') ORDER BY event_id;
SELECT instance_id, status FROM duroxide.instance_list ORDER BY 1;
SELECT duroxide.get_system_metrics() ->> 'completed_instances' AS completed;

-- section: cancel, delete, purge
SELECT duroxide.start_orchestration('np-2', 'NpWf', '{"name": "Bob"}');
SELECT duroxide.cancel_orchestration('np-2', 'not needed');
SELECT duroxide._dispatch_batch(0) AS turns;
SELECT status, error FROM duroxide.get_orchestration_status('np-2');
SELECT duroxide.delete_instance('np-2');
SELECT status FROM duroxide.get_orchestration_status('np-2');
SELECT duroxide.purge_instances(interval '0 s') AS purged;
SELECT count(*) FROM duroxide.instances;

-- section: durable functions outside an orchestration are refused
SELECT duroxide.schedule_timer(ROW('x', 1, 'NpWf', '1.0.0', NULL)::duroxide.context, 10);

-- section: unregistration
SELECT duroxide.unregister_orchestration('NpWf');
SELECT duroxide.unregister_activity('NpGreet');
SELECT count(*) FROM duroxide.orchestrations;
DROP SCHEMA np CASCADE;
DROP EXTENSION duroxide;
