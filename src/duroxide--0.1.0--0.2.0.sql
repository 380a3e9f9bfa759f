/*
 * duroxide--0.1.0--0.2.0.sql
 *		Upgrade script from 0.1.0 to 0.2.0 (ALTER EXTENSION duroxide UPDATE).
 *
 * Every change to src/duroxide--0.2.0.sql has its counterpart here, in the
 * same order, so that a fresh install of 0.2.0 and 0.1.0 plus this script
 * give the same catalog.  Running instances, history and queues are kept.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION duroxide UPDATE TO '0.2.0'" to load this file. \quit

-- tenant writes: duroxide_user reads the engine's tables (row-level security)
-- but writes them only through the client functions (C, src/client.c), which
-- check the caller and write with the engine's rights; internal helpers are
-- not executable by PUBLIC; child completions carry the child's id.

REVOKE ALL ON FUNCTION duroxide._wake_on_insert(), duroxide._wake_waiters() FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._workers_running() FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._resolve_version(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._check_payload(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._c_example_activity(duroxide.activity_context, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION duroxide._create_instance(p_instance_id text, p_name text, p_version text,
                                                     p_input jsonb, p_parent_instance_id text,
                                                     p_parent_execution_id integer, p_parent_event_id bigint,
                                                     p_owner regrole)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO duroxide.instances AS i
        (instance_id, orchestration_name, orchestration_version, input,
         parent_instance_id, parent_execution_id, parent_event_id, owner)
    VALUES (p_instance_id, p_name, p_version, p_input,
            p_parent_instance_id, p_parent_execution_id, p_parent_event_id, p_owner)
    ON CONFLICT (instance_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, data)
    VALUES (p_instance_id, 1, 'ExecutionStarted', NULL);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION duroxide._create_instance(text, text, text, jsonb, text, integer, bigint, regrole)
    FROM PUBLIC;

DROP FUNCTION duroxide.raise_event(text, text, jsonb);
CREATE FUNCTION duroxide.raise_event(instance_id text, event_name text, data jsonb DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_raise_event' LANGUAGE C;
COMMENT ON FUNCTION duroxide.raise_event(text, text, jsonb) IS
    'deliver an external event to a running instance (ignored if the instance is terminal)';

DROP FUNCTION duroxide.cancel_orchestration(text, text);
CREATE FUNCTION duroxide.cancel_orchestration(instance_id text, reason text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_cancel_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.cancel_orchestration(text, text) IS
    'cancel a running instance at its next turn, and its sub-orchestrations recursively';

DROP FUNCTION duroxide.delete_instance(text, boolean);
CREATE FUNCTION duroxide.delete_instance(instance_id text, force boolean DEFAULT false) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_delete_instance' LANGUAGE C;
COMMENT ON FUNCTION duroxide.delete_instance(text, boolean) IS
    'delete a terminal instance (or a running one with force) with its sub-orchestrations, history and messages';

REVOKE INSERT, DELETE ON duroxide.instances, duroxide.executions, duroxide.orchestrator_queue
    FROM duroxide_user;
REVOKE DELETE ON duroxide.history, duroxide.worker_queue FROM duroxide_user;
REVOKE USAGE ON SEQUENCE duroxide.orchestrator_queue_id_seq FROM duroxide_user;
REVOKE ALL ON SEQUENCE duroxide.orchestrator_queue_id_seq, duroxide.worker_queue_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._workers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duroxide._workers() TO duroxide_user;

-- a child's completion is applied only from the child its command created
-- (src/dispatcher.c): completions queued by 0.1.0 get the child's id from the
-- parent's command
UPDATE duroxide.orchestrator_queue q
   SET data = coalesce(q.data, '{}'::jsonb) || jsonb_build_object('child_instance_id', h.data->>'instance_id')
  FROM duroxide.history h, duroxide.instances i
 WHERE q.kind IN ('SubOrchestrationCompleted', 'SubOrchestrationFailed')
   AND i.instance_id = q.instance_id
   AND h.instance_id = q.instance_id
   AND h.execution_id = coalesce(q.execution_id, i.execution_id)
   AND h.event_id = q.source_event_id
   AND h.event_type = 'SubOrchestrationScheduled';
