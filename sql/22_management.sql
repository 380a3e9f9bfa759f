\set SHOW_CONTEXT never
-- Management: views of instances and workers, retention, limits.
CREATE SCHEMA mgmt;
CREATE FUNCTION mgmt.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'MgmtEcho', input); END $$;
SELECT duroxide.register_activity('MgmtEcho', 'regress.echo');
SELECT duroxide.register_orchestration('MgmtOrch', 'mgmt.orch');

-- section: the workers view, joinable with pg_stat_activity
SELECT kind, count(*) FROM duroxide.workers GROUP BY kind ORDER BY kind;
SELECT count(*) AS joined FROM duroxide.workers w JOIN pg_stat_activity a ON a.pid = w.pid;
SELECT DISTINCT a.backend_type FROM duroxide.workers w JOIN pg_stat_activity a ON a.pid = w.pid ORDER BY 1;

-- section: the instance view
SELECT duroxide.start_orchestration('mgmt-1', 'MgmtOrch', '"one"');
SELECT status FROM duroxide.wait_for_orchestration('mgmt-1', 10000);
SELECT instance_id, orchestration_name, orchestration_version, status, execution_id,
       parent_instance_id, completed_at IS NOT NULL AS has_completed_at
  FROM duroxide.instance_list WHERE instance_id = 'mgmt-1';

-- section: retention
SELECT duroxide.purge_instances(interval '1 hour') AS purged_nothing_recent;
SELECT duroxide.purge_instances(interval '-1 hour');
SELECT duroxide.purge_instances(NULL);
UPDATE duroxide.instances SET completed_at = now() - interval '2 days' WHERE instance_id = 'mgmt-1';
SELECT duroxide.purge_instances(interval '1 day') AS purged;
SELECT status FROM duroxide.get_orchestration_status('mgmt-1');
SELECT count(*) FROM duroxide.history WHERE instance_id = 'mgmt-1';
SELECT count(*) FROM duroxide.executions WHERE instance_id = 'mgmt-1';

-- section: limits give clear errors, not crashes or truncation
SET duroxide.max_payload_size = '4kB';
SELECT duroxide.start_orchestration('mgmt-big-input', 'MgmtOrch', to_jsonb(repeat('y', 5000)));
SELECT duroxide.raise_event('mgmt-1', 'e', to_jsonb(repeat('y', 5000)));
RESET duroxide.max_payload_size;
-- (limits enforced by the workers are tested in test/t/ with a restarted server)
