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

-- operations: suspend and resume (API.md 8.1), activity concurrency limits (API.md 8.3)
--
-- The status 'Suspended' (same constraint name as the install script's),
-- waiters woken only when an instance ends, metrics and purge aware of it.
ALTER TABLE duroxide.instances DROP CONSTRAINT instances_status_check,
    ADD CONSTRAINT instances_status_check
        CHECK (status IN ('Running', 'Completed', 'Failed', 'Cancelled', 'Suspended'));
DROP TRIGGER instances_terminal_wake ON duroxide.instances;
CREATE TRIGGER instances_terminal_wake AFTER UPDATE OF status ON duroxide.instances
    FOR EACH ROW WHEN (NEW.status NOT IN ('Running', 'Suspended') AND OLD.status IN ('Running', 'Suspended'))
    EXECUTE FUNCTION duroxide._wake_waiters();
CREATE OR REPLACE FUNCTION duroxide.get_system_metrics() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'total_instances', count(*),
        'running_instances', count(*) FILTER (WHERE status = 'Running'),
        'completed_instances', count(*) FILTER (WHERE status = 'Completed'),
        'failed_instances', count(*) FILTER (WHERE status = 'Failed'),
        'cancelled_instances', count(*) FILTER (WHERE status = 'Cancelled'),
        'suspended_instances', count(*) FILTER (WHERE status = 'Suspended'),
        'total_executions', (SELECT count(*) FROM duroxide.executions)
                            + count(*) FILTER (WHERE status IN ('Running', 'Suspended')),
        'total_history_events', (SELECT count(*) FROM duroxide.history))
      FROM duroxide.instances
$$;
CREATE OR REPLACE FUNCTION duroxide.purge_instances(older_than interval, batch_limit integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint := 0;
    id text;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be a non-negative interval'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- terminal top-level instances only: a child goes with its parent
    FOR id IN
        SELECT i.instance_id FROM duroxide.instances i
         WHERE i.status NOT IN ('Running', 'Suspended') AND i.completed_at < now() - older_than
           AND (i.parent_instance_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM duroxide.instances p WHERE p.instance_id = i.parent_instance_id))
         ORDER BY i.completed_at
         LIMIT batch_limit
    LOOP
        PERFORM duroxide.delete_instance(id, false);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- one row per suspension of an instance: who suspended it, when and why,
-- and the same for its resume (NULL while suspended); deleted with the instance
CREATE TABLE duroxide.suspensions (
    instance_id     text NOT NULL,
    suspended_at    timestamptz NOT NULL DEFAULT now(),
    suspended_by    regrole NOT NULL,
    suspend_reason  text,
    resumed_at      timestamptz,
    resumed_by      regrole,
    resume_reason   text
);
CREATE INDEX suspensions_instance_idx ON duroxide.suspensions (instance_id, suspended_at);
COMMENT ON TABLE duroxide.suspensions IS
    'suspensions of orchestration instances, with their reasons (a non-admin role sees only its own instances'')';
SELECT pg_catalog.pg_extension_config_dump('duroxide.suspensions', '');
GRANT SELECT ON duroxide.suspensions TO duroxide_user;
ALTER TABLE duroxide.suspensions ENABLE ROW LEVEL SECURITY;
CREATE POLICY suspensions_owner ON duroxide.suspensions
    USING (EXISTS (SELECT 1 FROM duroxide.instances i WHERE i.instance_id = suspensions.instance_id));

-- C (src/suspend.c), executable by PUBLIC: each checks that the caller sees
-- the instance (its owner or an admin), then writes with the engine's rights
CREATE FUNCTION duroxide.suspend_orchestration(instance_id text, reason text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_suspend_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.suspend_orchestration(text, text) IS
    'suspend a running instance: no turn runs until resume_orchestration; what arrives meanwhile waits';
CREATE FUNCTION duroxide.resume_orchestration(instance_id text, reason text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_resume_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.resume_orchestration(text, text) IS
    'resume a suspended instance: what arrived while it was suspended is processed in order';

-- at most max_concurrent attempts of the activity run (or are leased) at
-- once; no row: no limit.  Kept while the activity is registered by the same
-- owner (re-registering keeps it); removed with the registration.
CREATE TABLE duroxide.activity_limits (
    name            text PRIMARY KEY,
    max_concurrent  integer NOT NULL CHECK (max_concurrent > 0),
    set_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE duroxide.activity_limits IS
    'activity concurrency limits (duroxide.set_activity_concurrency)';
SELECT pg_catalog.pg_extension_config_dump('duroxide.activity_limits', '');
GRANT SELECT ON duroxide.activity_limits TO duroxide_user;
-- workers cache whether limits exist: a change bumps the registry generation
CREATE TRIGGER activity_limits_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON duroxide.activity_limits
    FOR EACH STATEMENT EXECUTE FUNCTION duroxide._registry_changed();

-- a registration that goes, or changes owner, takes its limit with it
CREATE FUNCTION duroxide._activity_limit_cleanup() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.owner IS DISTINCT FROM OLD.owner OR NEW.name IS DISTINCT FROM OLD.name THEN
        DELETE FROM duroxide.activity_limits l WHERE l.name = OLD.name;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION duroxide._activity_limit_cleanup() FROM PUBLIC;
CREATE TRIGGER activities_limit_cleanup AFTER UPDATE OR DELETE ON duroxide.activities
    FOR EACH ROW EXECUTE FUNCTION duroxide._activity_limit_cleanup();

-- C (src/concurrency.c), executable by PUBLIC: checks that the caller owns
-- the activity's registration (or is an admin), then writes as the engine
CREATE FUNCTION duroxide.set_activity_concurrency(name text, max_concurrent integer) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_set_activity_concurrency' LANGUAGE C;
COMMENT ON FUNCTION duroxide.set_activity_concurrency(text, integer) IS
    'limit how many attempts of an activity run at once across all workers (NULL: no limit)';

-- how many more attempts of activity p_name this transaction may claim, or
-- NULL when it has no limit.  Locks its limit row until the transaction
-- ends (p_wait false: SKIP LOCKED, and 0 when another claimer holds it), so
-- claims of one limited activity are serialized.  Running: its attempts
-- claimed in boot p_boot (claims of earlier boots are dead).  The hook for
-- every claimer of attempts (src/concurrency.c DxActivitySlotsFree).
CREATE FUNCTION duroxide._activity_slots_free(p_name text, p_boot bigint, p_wait boolean)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m integer;
BEGIN
    IF p_wait THEN
        SELECT l.max_concurrent INTO m FROM duroxide.activity_limits l WHERE l.name = p_name FOR UPDATE;
    ELSE
        SELECT l.max_concurrent INTO m FROM duroxide.activity_limits l WHERE l.name = p_name
           FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN CASE WHEN EXISTS (SELECT 1 FROM duroxide.activity_limits l WHERE l.name = p_name)
                        THEN 0 END;
        END IF;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN greatest(m - (SELECT count(*) FROM duroxide.worker_queue w
                          WHERE w.claim_boot = p_boot AND w.activity_name = p_name), 0);
END
$$;
REVOKE ALL ON FUNCTION duroxide._activity_slots_free(text, bigint, boolean) FROM PUBLIC;

-- the activity workers' claim of attempts of limited activities, within
-- their limits: up to p_limit never-delivered attempts, or with p_suspect
-- suspects (delivered before without a committed attempt), as (p_boot,
-- p_slot).  The columns of the common claim (src/activity.c).
CREATE FUNCTION duroxide._claim_limited_activities(p_boot bigint, p_slot integer, p_limit integer,
                                                   p_suspect boolean)
RETURNS TABLE (id bigint, instance_id text, execution_id integer, activity_id bigint, activity_name text,
               input jsonb, attempt integer, timeout_ms bigint, orchestration_name text,
               orchestration_version text, delivery_count integer)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    l record;
    free integer;
    n integer;
    taken integer := 0;
BEGIN
    FOR l IN
        SELECT a.name FROM duroxide.activity_limits a
         WHERE EXISTS (SELECT 1 FROM duroxide.worker_queue q
                        WHERE q.activity_name = a.name AND q.claim_boot IS NULL AND q.visible_at <= now()
                          AND (q.delivery_count > 0) = p_suspect)
         ORDER BY a.name
    LOOP
        EXIT WHEN taken >= p_limit;
        free := least(duroxide._activity_slots_free(l.name, p_boot, false), p_limit - taken);
        CONTINUE WHEN coalesce(free, 0) = 0;
        IF p_suspect THEN
            RETURN QUERY
            UPDATE duroxide.worker_queue w
               SET claim_boot = p_boot, claim_slot = p_slot, delivery_count = w.delivery_count + 1
             WHERE w.id IN (SELECT q.id FROM duroxide.worker_queue q
                             WHERE q.claim_boot IS NULL AND q.delivery_count > 0 AND q.visible_at <= now()
                               AND q.activity_name = l.name
                             ORDER BY q.id LIMIT free FOR UPDATE SKIP LOCKED)
            RETURNING w.id, w.instance_id, w.execution_id, w.activity_id, w.activity_name, w.input, w.attempt,
                      w.timeout_ms, w.orchestration_name, w.orchestration_version, w.delivery_count;
        ELSE
            RETURN QUERY
            UPDATE duroxide.worker_queue w
               SET claim_boot = p_boot, claim_slot = p_slot, delivery_count = w.delivery_count + 1
             WHERE w.id IN (SELECT q.id FROM duroxide.worker_queue q
                             WHERE q.claim_boot IS NULL AND q.delivery_count = 0 AND q.visible_at <= now()
                               AND q.activity_name = l.name
                             ORDER BY q.visible_at, q.id LIMIT free FOR UPDATE SKIP LOCKED)
            RETURNING w.id, w.instance_id, w.execution_id, w.activity_id, w.activity_name, w.input, w.attempt,
                      w.timeout_ms, w.orchestration_name, w.orchestration_version, w.delivery_count;
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        taken := taken + n;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION duroxide._claim_limited_activities(bigint, integer, integer, boolean) FROM PUBLIC;

-- the boot id of the current server start, as claim_boot holds it (0 when
-- duroxide is not preloaded); for claimers written in SQL and for tests
CREATE FUNCTION duroxide._boot_id() RETURNS bigint
    AS 'MODULE_PATHNAME', 'duroxide_boot_id' LANGUAGE C STABLE STRICT;
REVOKE ALL ON FUNCTION duroxide._boot_id() FROM PUBLIC;
