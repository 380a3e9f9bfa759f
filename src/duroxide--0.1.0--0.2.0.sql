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

-- history_diagram: duroxide.history_diagram (API §8.4, src/diagram.c), as in
-- the install script's section of that name
CREATE FUNCTION duroxide.history_diagram(instance_id text, format text DEFAULT 'svg',
                                         execution_id integer DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'duroxide_history_diagram' LANGUAGE C STABLE;
COMMENT ON FUNCTION duroxide.history_diagram(text, text, integer) IS
    'timeline of an execution (default: the current one): ''svg'' (a standalone SVG document) or ''mermaid'' (a gantt chart)';
REVOKE ALL ON FUNCTION duroxide.history_diagram(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duroxide.history_diagram(text, text, integer) TO duroxide_user;

-- external activities: workers outside the database (API.md section 7)
/* ------------------------------------------------------------------------
 * External activities (src/registration.c, src/external.c)
 *
 * An external activity's registration has no function (fn IS NULL) and a
 * task_queue.  The dispatcher writes each of its attempts into worker_queue
 * with that task_queue (the registration current when the attempt is
 * queued decides); in-database activity workers never claim such a row.
 * A worker leases tasks with claim_tasks: lease_token, lease_expires_at,
 * leased_at and worker_id are set and visible_at moves to the lease expiry,
 * so "claimable" is visible_at <= now for every task (see docs/DESIGN.md,
 * the lease state machine).
 * ------------------------------------------------------------------------ */

ALTER TABLE duroxide.activities ALTER COLUMN fn DROP NOT NULL;
-- NULL: run in the database by fn; else the queue of its external workers
ALTER TABLE duroxide.activities ADD COLUMN task_queue text;
ALTER TABLE duroxide.activities ADD CONSTRAINT activities_kind_check
    CHECK ((fn IS NULL) <> (task_queue IS NULL));

-- NULL: an in-database attempt; else the external task's queue
ALTER TABLE duroxide.worker_queue ADD COLUMN task_queue text;
-- the current lease of an external task (all NULL while not leased)
ALTER TABLE duroxide.worker_queue ADD COLUMN lease_token uuid;
ALTER TABLE duroxide.worker_queue ADD COLUMN lease_expires_at timestamptz;
ALTER TABLE duroxide.worker_queue ADD COLUMN worker_id text;
ALTER TABLE duroxide.worker_queue ADD COLUMN leased_at timestamptz;

-- the in-database workers' indexes leave external tasks out
DROP INDEX duroxide.worker_queue_ready_idx;
CREATE INDEX worker_queue_ready_idx ON duroxide.worker_queue (visible_at, id)
    WHERE claim_boot IS NULL AND delivery_count = 0 AND task_queue IS NULL;
DROP INDEX duroxide.worker_queue_suspect_idx;
CREATE INDEX worker_queue_suspect_idx ON duroxide.worker_queue (id)
    WHERE claim_boot IS NULL AND delivery_count > 0 AND task_queue IS NULL;
-- claim_tasks: the claimable tasks of a queue, oldest first
CREATE INDEX worker_queue_task_idx ON duroxide.worker_queue (task_queue, visible_at, id)
    WHERE task_queue IS NOT NULL;

-- row trigger: a task was added to a queue; wake that queue's waiting
-- claim_tasks calls after the inserting commit
CREATE FUNCTION duroxide._wake_task_queue() RETURNS trigger
    AS 'MODULE_PATHNAME', 'duroxide_wake_task_queue' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._wake_task_queue() FROM PUBLIC;
CREATE TRIGGER worker_queue_task_wake AFTER INSERT ON duroxide.worker_queue
    FOR EACH ROW WHEN (NEW.task_queue IS NOT NULL)
    EXECUTE FUNCTION duroxide._wake_task_queue();

-- C (src/registration.c), executable by PUBLIC like register_activity: the
-- caller must have the rights of duroxide_user; another role's registration
-- is replaced only by an admin
CREATE FUNCTION duroxide.register_external_activity(name text, task_queue text DEFAULT 'default')
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_register_external_activity' LANGUAGE C;
COMMENT ON FUNCTION duroxide.register_external_activity(text, text) IS
    'register (or replace) an activity run by external workers that claim its tasks from task_queue';

-- the worker protocol (C, src/external.c): executable by duroxide_user;
-- each call acts only on tasks of registrations whose owner the caller has
-- the privileges of (or any, for duroxide_admin), then writes as the engine
CREATE FUNCTION duroxide.claim_tasks(task_queue text, worker_id text, max_tasks integer DEFAULT 1,
                                     lease_ms bigint DEFAULT 30000, wait_ms bigint DEFAULT 0)
RETURNS TABLE (task_id bigint, lease_token uuid, activity_name text, input jsonb,
               instance_id text, execution_id integer, orchestration_name text,
               orchestration_version text, activity_id bigint, attempt integer,
               lease_expires_at timestamptz)
    AS 'MODULE_PATHNAME', 'duroxide_claim_tasks' LANGUAGE C;
COMMENT ON FUNCTION duroxide.claim_tasks(text, text, integer, bigint, bigint) IS
    'lease up to max_tasks tasks of a queue for lease_ms; with wait_ms > 0 wait (woken by the commit that adds a task) for one';

CREATE FUNCTION duroxide.complete_task(task_id bigint, lease_token uuid, result jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'duroxide_complete_task' LANGUAGE C;
COMMENT ON FUNCTION duroxide.complete_task(bigint, uuid, jsonb) IS
    'record a leased task''s result; false (nothing recorded) when the lease no longer holds';

CREATE FUNCTION duroxide.fail_task(task_id bigint, lease_token uuid, error text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'duroxide_fail_task' LANGUAGE C;
COMMENT ON FUNCTION duroxide.fail_task(bigint, uuid, text) IS
    'record a leased task''s failure (DX001 with error as its message); false when the lease no longer holds';

CREATE FUNCTION duroxide.heartbeat_task(task_id bigint, lease_token uuid, lease_ms bigint DEFAULT 30000)
RETURNS boolean
    AS 'MODULE_PATHNAME', 'duroxide_heartbeat_task' LANGUAGE C;
COMMENT ON FUNCTION duroxide.heartbeat_task(bigint, uuid, bigint) IS
    'extend a lease by lease_ms (never past the attempt''s timeoutMs); false when the lease no longer holds';

CREATE FUNCTION duroxide.release_task(task_id bigint, lease_token uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'duroxide_release_task' LANGUAGE C;
COMMENT ON FUNCTION duroxide.release_task(bigint, uuid) IS
    'give a leased task back at once without counting the delivery; false when the lease no longer holds';

REVOKE ALL ON FUNCTION duroxide.claim_tasks(text, text, integer, bigint, bigint),
    duroxide.complete_task(bigint, uuid, jsonb), duroxide.fail_task(bigint, uuid, text),
    duroxide.heartbeat_task(bigint, uuid, bigint), duroxide.release_task(bigint, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duroxide.claim_tasks(text, text, integer, bigint, bigint),
    duroxide.complete_task(bigint, uuid, jsonb), duroxide.fail_task(bigint, uuid, text),
    duroxide.heartbeat_task(bigint, uuid, bigint), duroxide.release_task(bigint, uuid) TO duroxide_user;

-- many complete_task calls in one (one transaction); element i of the
-- result is what complete_task(task_ids[i], lease_tokens[i], results[i]) returns
CREATE FUNCTION duroxide.complete_tasks(task_ids bigint[], lease_tokens uuid[], results jsonb[])
RETURNS boolean[]
    AS 'MODULE_PATHNAME', 'duroxide_complete_tasks' LANGUAGE C;
COMMENT ON FUNCTION duroxide.complete_tasks(bigint[], uuid[], jsonb[]) IS
    'complete_task for each position of the arrays, in one call; returns each call''s boolean';
REVOKE ALL ON FUNCTION duroxide.complete_tasks(bigint[], uuid[], jsonb[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duroxide.complete_tasks(bigint[], uuid[], jsonb[]) TO duroxide_user;

-- the workers of a registration see its tasks too (the instance's owner
-- already does through worker_queue_owner); permissive policies add up
CREATE POLICY worker_queue_claimable ON duroxide.worker_queue FOR SELECT
    USING (task_queue IS NOT NULL
           AND EXISTS (SELECT 1 FROM duroxide.activities a
                        WHERE a.name = worker_queue.activity_name
                          AND pg_catalog.pg_has_role(a.owner::pg_catalog.oid, 'USAGE')));

-- one row per queue that has a registration or a task; counts what the
-- caller may see of worker_queue (its instances' tasks, the tasks it may
-- claim; admins all).  pending: not leased (claimable now, or after a retry
-- delay); leased: a lease holds; oldest_pending_at: since when the
-- longest-waiting claimable task has been claimable
CREATE VIEW duroxide.task_queues WITH (security_invoker = true) AS
    SELECT q.task_queue,
           count(w.id) FILTER (WHERE w.lease_token IS NULL OR w.lease_expires_at <= now()) AS pending,
           count(w.id) FILTER (WHERE w.lease_token IS NOT NULL AND w.lease_expires_at > now()) AS leased,
           min(w.visible_at) FILTER (WHERE (w.lease_token IS NULL OR w.lease_expires_at <= now())
                                       AND w.visible_at <= now()) AS oldest_pending_at
      FROM (SELECT a.task_queue FROM duroxide.activities a WHERE a.task_queue IS NOT NULL
            UNION
            SELECT t.task_queue FROM duroxide.worker_queue t WHERE t.task_queue IS NOT NULL) q
      LEFT JOIN duroxide.worker_queue w ON w.task_queue = q.task_queue
     GROUP BY q.task_queue;
COMMENT ON VIEW duroxide.task_queues IS
    'external task queues: pending and leased tasks the caller may see, and the oldest claimable one';
GRANT SELECT ON duroxide.task_queues TO duroxide_user;

-- schedules: the table duroxide.schedule_entries, the view duroxide.schedules and
-- the schedule functions (src/schedule.c, src/cron.c)

CREATE TABLE duroxide.schedule_entries (
    schedule_name       text PRIMARY KEY,
    -- five-field cron expression, a macro (@daily) or @every <interval>
    schedule            text NOT NULL,
    orchestration_name  text NOT NULL,
    input               jsonb,
    -- NULL: the highest registered version at each run
    version             text,
    overlap             text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'allow')),
    -- a name of the tz database (cron fields are local times there)
    time_zone           text NOT NULL DEFAULT 'UTC',
    paused              boolean NOT NULL DEFAULT false,
    -- @every: runs at anchor + k * interval (k >= 1); the creation time
    anchor              timestamptz NOT NULL,
    -- the next fire time; NULL: it will never fire again (last_error says why)
    next_run_at         timestamptz,
    -- the fire time and instance of the last run started
    last_run_at         timestamptz,
    last_instance_id    text,
    -- why the last fire time started no run (NULL: it did)
    last_error          text,
    owner               regrole NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedule_entries_due_idx ON duroxide.schedule_entries (next_run_at) WHERE NOT paused;
SELECT pg_catalog.pg_extension_config_dump('duroxide.schedule_entries', '');

-- C (src/schedule.c), executable by PUBLIC: each checks its caller itself
-- (membership of duroxide_user or duroxide_admin; create_schedule: the
-- registration and EXECUTE on its function, as start_orchestration; the
-- others: the schedule as row-level security shows it), then writes with
-- the engine's rights
CREATE FUNCTION duroxide.create_schedule(schedule_name text, schedule text, orchestration_name text,
                                         input jsonb DEFAULT NULL, version text DEFAULT NULL,
                                         overlap text DEFAULT 'skip', time_zone text DEFAULT 'UTC')
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_create_schedule' LANGUAGE C;
COMMENT ON FUNCTION duroxide.create_schedule(text, text, text, jsonb, text, text, text) IS
    'start orchestration_name as instance <schedule_name>@<fire time UTC> at each fire time of schedule (cron or @every <interval>)';
CREATE FUNCTION duroxide.drop_schedule(schedule_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_drop_schedule' LANGUAGE C;
CREATE FUNCTION duroxide.pause_schedule(schedule_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_pause_schedule' LANGUAGE C;
CREATE FUNCTION duroxide.resume_schedule(schedule_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_resume_schedule' LANGUAGE C;

-- internal: fire what is due at now in the caller's transaction (tests,
-- operators); the next n fire times of an expression (tests of src/cron.c).
-- Superusers only.
CREATE FUNCTION duroxide._fire_schedules(now timestamptz DEFAULT now()) RETURNS integer
    AS 'MODULE_PATHNAME', 'duroxide_fire_schedules' LANGUAGE C;
CREATE FUNCTION duroxide._schedule_next_runs(schedule text, time_zone text, after timestamptz, n integer,
                                             anchor timestamptz DEFAULT NULL)
RETURNS SETOF timestamptz
    AS 'MODULE_PATHNAME', 'duroxide_schedule_next_runs' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._fire_schedules(timestamptz),
    duroxide._schedule_next_runs(text, text, timestamptz, integer, timestamptz) FROM PUBLIC;

CREATE VIEW duroxide.schedules WITH (security_invoker = true) AS
    SELECT s.schedule_name, s.schedule, s.orchestration_name, s.version, s.overlap, s.time_zone,
           s.paused, CASE WHEN s.paused THEN NULL ELSE s.next_run_at END AS next_run_at,
           s.last_run_at, s.last_instance_id, s.owner, s.last_error
      FROM duroxide.schedule_entries s;
COMMENT ON VIEW duroxide.schedules IS
    'schedules (a non-admin role sees only its own); next_run_at is NULL while paused';

-- read only for duroxide_user, under row-level security; written only by
-- the schedule functions and the dispatchers (engine rights)
REVOKE ALL ON duroxide.schedule_entries, duroxide.schedules FROM PUBLIC;
GRANT SELECT ON duroxide.schedule_entries, duroxide.schedules TO duroxide_user;
ALTER TABLE duroxide.schedule_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY schedule_entries_owner ON duroxide.schedule_entries
    USING (owner = current_user::regrole OR duroxide._is_admin());

-- an instance id <name>@... is the id of a run of schedule <name>: no role
-- but the schedule's owner may take it (a squatted id would keep the run
-- from starting).  Fires only for ids with "@"; reads with the inserting
-- role's rights, which are the engine's (client functions, dispatchers).
CREATE FUNCTION duroxide._schedule_id_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s_name text := split_part(NEW.instance_id, '@', 1);
    s_owner regrole;
BEGIN
    SELECT s.owner INTO s_owner FROM duroxide.schedule_entries s WHERE s.schedule_name = s_name;
    IF FOUND AND s_owner <> NEW.owner THEN
        RAISE EXCEPTION 'instance id "%" is reserved for the runs of schedule "%"', NEW.instance_id, s_name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Ids <schedule_name>@<time> are started by the schedule only; choose another instance id.';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION duroxide._schedule_id_check() FROM PUBLIC;
CREATE TRIGGER instances_schedule_id BEFORE INSERT ON duroxide.instances
    FOR EACH ROW WHEN (NEW.instance_id LIKE '%@%') EXECUTE FUNCTION duroxide._schedule_id_check();

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
-- claimed in boot p_boot (claims of earlier boots are dead) and its
-- unexpired external leases (in its registration's task queue).  The hook
-- for every claimer of attempts (src/concurrency.c DxActivitySlotsFree).
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
                          WHERE w.claim_boot = p_boot AND w.activity_name = p_name)
                      - (SELECT count(*) FROM duroxide.worker_queue w
                          WHERE w.task_queue = ANY (ARRAY(SELECT a.task_queue FROM duroxide.activities a
                                                           WHERE a.name = p_name AND a.task_queue IS NOT NULL))
                            AND w.visible_at > clock_timestamp() AND w.activity_name = p_name
                            AND w.lease_token IS NOT NULL AND w.lease_expires_at > clock_timestamp()), 0);
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
         WHERE (NOT p_suspect
                AND EXISTS (SELECT 1 FROM duroxide.worker_queue q
                             WHERE q.claim_boot IS NULL AND q.delivery_count = 0 AND q.task_queue IS NULL
                               AND q.visible_at <= now() AND q.activity_name = a.name))
            OR (p_suspect
                AND EXISTS (SELECT 1 FROM duroxide.worker_queue q
                             WHERE q.claim_boot IS NULL AND q.delivery_count > 0 AND q.task_queue IS NULL
                               AND q.visible_at <= now() AND q.activity_name = a.name))
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
                               AND q.activity_name = l.name AND q.task_queue IS NULL
                             ORDER BY q.id LIMIT free FOR UPDATE SKIP LOCKED)
            RETURNING w.id, w.instance_id, w.execution_id, w.activity_id, w.activity_name, w.input, w.attempt,
                      w.timeout_ms, w.orchestration_name, w.orchestration_version, w.delivery_count;
        ELSE
            RETURN QUERY
            UPDATE duroxide.worker_queue w
               SET claim_boot = p_boot, claim_slot = p_slot, delivery_count = w.delivery_count + 1
             WHERE w.id IN (SELECT q.id FROM duroxide.worker_queue q
                             WHERE q.claim_boot IS NULL AND q.delivery_count = 0 AND q.visible_at <= now()
                               AND q.activity_name = l.name AND q.task_queue IS NULL
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

-- claim_tasks (src/external.c): the candidates of limited activities in
-- task queue p_queue claimable at p_now that the caller may claim (p_admin,
-- p_role: the rights condition of external.c's DX_MAY_CLAIM), at most the
-- free slots of each and p_limit in all, locked; the columns of
-- external.c's candidate_plan
CREATE FUNCTION duroxide._limited_task_candidates(p_admin boolean, p_role oid, p_queue text, p_limit integer,
                                                  p_now timestamptz, p_boot bigint)
RETURNS TABLE (id bigint, expired boolean, delivery_count integer, timed_out boolean)
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
                        WHERE q.task_queue = p_queue AND q.visible_at <= p_now AND q.activity_name = a.name)
         ORDER BY a.name
    LOOP
        EXIT WHEN taken >= p_limit;
        free := least(duroxide._activity_slots_free(l.name, p_boot, false), p_limit - taken);
        CONTINUE WHEN coalesce(free, 0) = 0;
        RETURN QUERY
        SELECT w.id, w.lease_token IS NOT NULL, w.delivery_count,
               w.lease_token IS NOT NULL AND w.timeout_ms IS NOT NULL
                 AND w.lease_expires_at >= w.leased_at + w.timeout_ms * interval '1 ms'
          FROM duroxide.worker_queue w
         WHERE w.task_queue = p_queue AND w.visible_at <= p_now AND w.activity_name = l.name
           AND (p_admin OR EXISTS (SELECT 1 FROM duroxide.activities a WHERE a.name = w.activity_name
                                     AND pg_has_role(p_role, a.owner::oid, 'USAGE')))
         ORDER BY w.visible_at, w.id LIMIT free
           FOR UPDATE OF w SKIP LOCKED;
        GET DIAGNOSTICS n = ROW_COUNT;
        taken := taken + n;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION duroxide._limited_task_candidates(boolean, oid, text, integer, timestamptz, bigint)
    FROM PUBLIC;

-- many databases (issue 13): the launcher starts this database's workers
-- when the transaction that creates (or updates) the extension commits
CREATE FUNCTION duroxide._extension_created() RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_extension_created' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._extension_created() FROM PUBLIC;
COMMENT ON FUNCTION duroxide._extension_created() IS
    'internal: tells the duroxide launcher at commit that this database has the extension';
SELECT duroxide._extension_created();

-- perf (issue 15): call_activity and call_activity_with_retry in C, with the
-- fast path for a call whose result is recorded (src/replay_fast.c)
CREATE OR REPLACE FUNCTION duroxide.call_activity(ctx duroxide.context, name text, input jsonb DEFAULT NULL)
RETURNS jsonb AS 'MODULE_PATHNAME', 'duroxide_call_activity' LANGUAGE C;
CREATE OR REPLACE FUNCTION duroxide.call_activity_with_retry(ctx duroxide.context, name text, input jsonb, retry jsonb)
RETURNS jsonb AS 'MODULE_PATHNAME', 'duroxide_call_activity_with_retry' LANGUAGE C;
