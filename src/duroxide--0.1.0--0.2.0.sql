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

-- registry: function identities as text, registration in C, drops of registered functions
--
-- fn regproc blocks pg_upgrade, breaks restores of overloaded names and keeps
-- no dependency.  It becomes the function's identity text (what
-- pg_identify_object reports: schema-qualified name and argument types);
-- the column keeps its position.  A registration whose function was already
-- dropped has no identity left: it is removed, with a warning.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT 'orchestration' AS kind, o.name, ' version ' || o.version AS version, o.fn::pg_catalog.oid AS fn
               FROM duroxide.orchestrations o
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = o.fn::pg_catalog.oid)
             UNION ALL
             SELECT 'activity', a.name, '', a.fn::pg_catalog.oid
               FROM duroxide.activities a
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = a.fn::pg_catalog.oid)
    LOOP
        RAISE WARNING 'duroxide: % "%"% is unregistered: its function (OID %) no longer exists',
            r.kind, r.name, r.version, r.fn;
        IF r.kind = 'orchestration' THEN
            DELETE FROM duroxide.orchestrations o
             WHERE o.name = r.name AND o.fn::pg_catalog.oid = r.fn;
        ELSE
            DELETE FROM duroxide.activities a WHERE a.name = r.name;
        END IF;
    END LOOP;
END
$$;
ALTER TABLE duroxide.orchestrations ALTER COLUMN fn TYPE text
    USING (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, fn::pg_catalog.oid, 0)).identity;
ALTER TABLE duroxide.activities ALTER COLUMN fn TYPE text
    USING (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, fn::pg_catalog.oid, 0)).identity;

-- internal helpers: not executable by PUBLIC
REVOKE ALL ON FUNCTION duroxide._registry_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION duroxide._resolve_version(text, text) FROM PUBLIC;

-- the registration functions are C (src/registration.c); the signature check is theirs
DROP FUNCTION duroxide._check_signature(text, regproc, regtype, boolean);
CREATE OR REPLACE FUNCTION duroxide.register_orchestration(name text, fn regproc, version text DEFAULT '1.0.0')
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_register_orchestration' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.register_activity(name text, fn regproc) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_register_activity' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.unregister_orchestration(name text, version text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_unregister_orchestration' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.unregister_activity(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_unregister_activity' LANGUAGE C;

-- a registration depends on its function
CREATE FUNCTION duroxide._registered_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'duroxide_registered_drop' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._registered_drop() FROM PUBLIC;
CREATE EVENT TRIGGER duroxide_registered_drop ON sql_drop
    EXECUTE FUNCTION duroxide._registered_drop();
CREATE EVENT TRIGGER duroxide_registered_drop_owned ON ddl_command_end
    WHEN TAG IN ('DROP OWNED')
    EXECUTE FUNCTION duroxide._registered_drop();

-- registrations are written only by the registration functions (engine rights)
REVOKE INSERT, UPDATE, DELETE ON duroxide.orchestrations, duroxide.activities FROM duroxide_user;

-- refactor (issue 11): the protocol table as SQL, for sql/60_protocol.sql
CREATE FUNCTION duroxide._protocol(OUT category text, OUT name text, OUT records text,
                                   OUT completes text, OUT from_child boolean,
                                   OUT elidable boolean, OUT producers text[])
RETURNS SETOF record AS 'MODULE_PATHNAME', 'duroxide_protocol' LANGUAGE C STABLE;
COMMENT ON FUNCTION duroxide._protocol() IS
    'internal: the message kinds (orchestrator_queue.kind) and event types (history.event_type) the engine knows';
REVOKE ALL ON FUNCTION duroxide._protocol() FROM PUBLIC;

-- perf (issue 15): call_activity and call_activity_with_retry in C, with the
-- fast path for a call whose result is recorded (src/replay_fast.c)
CREATE OR REPLACE FUNCTION duroxide.call_activity(ctx duroxide.context, name text, input jsonb DEFAULT NULL)
RETURNS jsonb AS 'MODULE_PATHNAME', 'duroxide_call_activity' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.call_activity_with_retry(ctx duroxide.context, name text, input jsonb, retry jsonb)
RETURNS jsonb AS 'MODULE_PATHNAME', 'duroxide_call_activity_with_retry' LANGUAGE C;
