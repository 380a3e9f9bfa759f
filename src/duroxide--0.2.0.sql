/*
 * duroxide--0.2.0.sql
 *		Install script: storage, types, registration, client surface.
 *
 * The durable state machine (see docs/DESIGN.md for the diagram):
 *
 *   instances.status:  Running --> Completed | Failed | Cancelled
 *                      Running --(continue_as_new)--> Running (execution_id + 1)
 *                      Running <--> Suspended (suspend_orchestration /
 *                      resume_orchestration; no turn runs while Suspended)
 *
 * Work is carried by two queues.  orchestrator_queue holds messages for an
 * instance (ExecutionStarted, ActivityCompleted, ActivityFailed, TimerFired,
 * EventRaised, SubOrchestrationCompleted, SubOrchestrationFailed,
 * CancelRequested); a timer is a message whose visible_at lies in the future.
 * worker_queue holds one row per activity attempt.  A dispatcher claims an
 * instance (claim_boot/claim_slot set and the delivery counts of its visible
 * messages incremented, then committed), runs one turn and commits the turn:
 * history delta, new work, consumed messages deleted, instance row updated and
 * the claim cleared.  Activity workers claim worker_queue rows the same way.
 *
 * Everything that user code may pass in reaches SQL as a parameter.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION duroxide" to load this file. \quit

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------ */

CREATE TYPE duroxide.context AS (
    instance_id             text,
    execution_id            integer,
    orchestration_name      text,
    orchestration_version   text,
    parent_instance_id      text
);
COMMENT ON TYPE duroxide.context IS
    'first argument of an orchestration function: which instance and execution is running';

CREATE TYPE duroxide.activity_context AS (
    instance_id             text,
    execution_id            integer,
    orchestration_name      text,
    orchestration_version   text,
    activity_name           text,
    activity_id             bigint,
    attempt                 integer,
    worker_id               text
);
COMMENT ON TYPE duroxide.activity_context IS
    'first argument of an activity function: which activity attempt is running and for whom';

CREATE TYPE duroxide.task AS (
    instance_id     text,
    execution_id    integer,
    task_id         bigint,
    kind            text
);
COMMENT ON TYPE duroxide.task IS
    'handle of a scheduled durable task (activity, timer, event, sub-orchestration); pass it to duroxide.await*';

CREATE TYPE duroxide.orchestration_status AS (
    instance_id             text,
    orchestration_name      text,
    orchestration_version   text,
    status                  text,
    output                  jsonb,
    error                   text,
    custom_status           jsonb,
    execution_id            integer,
    created_at              timestamptz,
    updated_at              timestamptz,
    parent_instance_id      text
);

/* ------------------------------------------------------------------------
 * Storage
 * ------------------------------------------------------------------------ */

CREATE TABLE duroxide.orchestrations (
    name            text NOT NULL,
    version         text NOT NULL,
    version_key     integer[] NOT NULL,
    -- the function's identity, schema-qualified with its argument types, as
    -- pg_identify_object reports it: survives pg_dump and pg_upgrade (src/registry.c)
    fn              text NOT NULL,
    owner           regrole NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE duroxide.activities (
    name            text PRIMARY KEY,
    fn              text NOT NULL,          -- as in orchestrations
    is_procedure    boolean NOT NULL,
    owner           regrole NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE duroxide.instances (
    instance_id             text PRIMARY KEY,
    orchestration_name      text NOT NULL,
    orchestration_version   text NOT NULL,
    status                  text NOT NULL DEFAULT 'Running'
        CONSTRAINT instances_status_check
        CHECK (status IN ('Running', 'Completed', 'Failed', 'Cancelled', 'Suspended')),
    execution_id            integer NOT NULL DEFAULT 1,
    input                   jsonb,
    output                  jsonb,
    error                   text,
    custom_status           jsonb,
    parent_instance_id      text,
    parent_execution_id     integer,
    parent_event_id         bigint,
    owner                   regrole NOT NULL DEFAULT current_user::regrole,
    -- awaits resolved before the previous turn blocked (-1: no turn yet)
    replay_mark             integer NOT NULL DEFAULT -1,
    -- what that await waits for: {"ids": [task ids], "any": bool} (turn elision)
    waiting_on              jsonb,
    -- events in the current execution's history (dispatchers' history cache)
    history_len             integer NOT NULL DEFAULT 0,
    claim_boot              bigint,
    claim_slot              integer,
    -- turns claimed since the last committed one (poison detection)
    claim_count             integer NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    completed_at            timestamptz
);
CREATE INDEX instances_parent_idx ON duroxide.instances (parent_instance_id)
    WHERE parent_instance_id IS NOT NULL;
-- No index covers claim_boot, claim_slot or claim_count: every claim and every
-- turn updates them, and leaving them out of all indexes keeps those updates
-- HOT.  Their readers (claim recovery at worker start, the suspect search
-- after a crash) are rare and scan.
CREATE INDEX instances_status_idx ON duroxide.instances (status, completed_at);

-- one row per ended execution (the running one is described by its instance row)
CREATE TABLE duroxide.executions (
    instance_id             text NOT NULL,
    execution_id            integer NOT NULL,
    orchestration_version   text NOT NULL,
    input                   jsonb,
    status                  text NOT NULL
        CHECK (status IN ('Completed', 'Failed', 'Cancelled', 'ContinuedAsNew')),
    output                  jsonb,
    error                   text,
    completed_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, execution_id)
);

CREATE TABLE duroxide.history (
    instance_id         text NOT NULL,
    execution_id        integer NOT NULL,
    event_id            bigint NOT NULL,
    event_type          text NOT NULL,
    source_event_id     bigint,
    data                jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, execution_id, event_id)
);

CREATE TABLE duroxide.orchestrator_queue (
    id              bigserial PRIMARY KEY,
    instance_id     text NOT NULL,
    execution_id    integer,
    kind            text NOT NULL,
    source_event_id bigint,
    data            jsonb,
    visible_at      timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orchestrator_queue_visible_idx ON duroxide.orchestrator_queue (visible_at);
CREATE INDEX orchestrator_queue_instance_idx ON duroxide.orchestrator_queue (instance_id);

CREATE TABLE duroxide.worker_queue (
    id                      bigserial PRIMARY KEY,
    instance_id             text NOT NULL,
    execution_id            integer NOT NULL,
    activity_id             bigint NOT NULL,
    activity_name           text NOT NULL,
    input                   jsonb,
    attempt                 integer NOT NULL DEFAULT 1,
    timeout_ms              bigint,
    orchestration_name      text NOT NULL,
    orchestration_version   text NOT NULL,
    visible_at              timestamptz NOT NULL DEFAULT now(),
    delivery_count          integer NOT NULL DEFAULT 0,
    claim_boot              bigint,
    claim_slot              integer,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_queue_ready_idx ON duroxide.worker_queue (visible_at, id)
    WHERE claim_boot IS NULL AND delivery_count = 0;
-- suspects: delivered before without a committed attempt (src/activity.c)
CREATE INDEX worker_queue_suspect_idx ON duroxide.worker_queue (id)
    WHERE claim_boot IS NULL AND delivery_count > 0;
CREATE INDEX worker_queue_instance_idx ON duroxide.worker_queue (instance_id);
CREATE INDEX worker_queue_claimed_idx ON duroxide.worker_queue (claim_boot)
    WHERE claim_boot IS NOT NULL;

-- queue rows churn fast: vacuum them eagerly
ALTER TABLE duroxide.orchestrator_queue SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01, fillfactor = 80);
ALTER TABLE duroxide.worker_queue SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01, fillfactor = 80);
ALTER TABLE duroxide.instances SET (fillfactor = 80);

-- pg_dump keeps registrations, instances and their state
SELECT pg_catalog.pg_extension_config_dump('duroxide.orchestrations', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.activities', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.instances', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.executions', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.history', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.orchestrator_queue', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.worker_queue', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.orchestrator_queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('duroxide.worker_queue_id_seq', '');

/* ------------------------------------------------------------------------
 * Internal C helpers
 * ------------------------------------------------------------------------ */

-- statement trigger: wake the workers of a queue after the inserting commit
CREATE FUNCTION duroxide._wake_on_insert() RETURNS trigger
    AS 'MODULE_PATHNAME', 'duroxide_wake_on_insert' LANGUAGE C;
-- statement trigger: a registration changed; workers drop their cached lookups after commit
CREATE FUNCTION duroxide._registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'duroxide_registry_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._registry_changed() FROM PUBLIC;
-- row trigger: an instance became terminal; wake its waiters after commit
CREATE FUNCTION duroxide._wake_waiters() RETURNS trigger
    AS 'MODULE_PATHNAME', 'duroxide_wake_waiters' LANGUAGE C;

-- trigger functions fire without an EXECUTE check and cannot be called
-- directly: nobody needs EXECUTE on them (_registry_changed belongs to the
-- registration code and is left as it is here)
REVOKE ALL ON FUNCTION duroxide._wake_on_insert(), duroxide._wake_waiters() FROM PUBLIC;

CREATE TRIGGER orchestrator_queue_wake AFTER INSERT ON duroxide.orchestrator_queue
    FOR EACH STATEMENT EXECUTE FUNCTION duroxide._wake_on_insert('orchestrator');
CREATE TRIGGER worker_queue_wake AFTER INSERT ON duroxide.worker_queue
    FOR EACH STATEMENT EXECUTE FUNCTION duroxide._wake_on_insert('worker');
CREATE TRIGGER orchestrations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON duroxide.orchestrations
    FOR EACH STATEMENT EXECUTE FUNCTION duroxide._registry_changed();
CREATE TRIGGER activities_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON duroxide.activities
    FOR EACH STATEMENT EXECUTE FUNCTION duroxide._registry_changed();
CREATE TRIGGER instances_terminal_wake AFTER UPDATE OF status ON duroxide.instances
    FOR EACH ROW WHEN (NEW.status NOT IN ('Running', 'Suspended') AND OLD.status IN ('Running', 'Suspended'))
    EXECUTE FUNCTION duroxide._wake_waiters();

-- one dispatcher / activity batch in the caller's transaction (tests, operators)
CREATE FUNCTION duroxide._dispatch_batch(slot integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'duroxide_dispatch_batch' LANGUAGE C STRICT;
CREATE FUNCTION duroxide._activity_batch(slot integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'duroxide_activity_batch' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION duroxide._dispatch_batch(integer), duroxide._activity_batch(integer) FROM PUBLIC;

-- true when the background workers of this database are running
CREATE FUNCTION duroxide._workers_running() RETURNS boolean
    AS 'MODULE_PATHNAME', 'duroxide_workers_running' LANGUAGE C STRICT;
-- internal (the client functions call the C check directly): superusers only
REVOKE ALL ON FUNCTION duroxide._workers_running() FROM PUBLIC;

-- parse a semantic version into its sort key, or raise a clear error (src/util.c);
-- executable by PUBLIC, as _check_name: register_* call them as the registering role
CREATE FUNCTION duroxide._version_key(version text) RETURNS integer[]
    AS 'MODULE_PATHNAME', 'duroxide_version_key' LANGUAGE C IMMUTABLE STRICT;

-- check a name given by a user: not null, not empty, bounded (src/util.c)
CREATE FUNCTION duroxide._check_name(what text, value text) RETURNS text
    AS 'MODULE_PATHNAME', 'duroxide_check_name' LANGUAGE C IMMUTABLE;

-- the highest registered version of an orchestration, or a given one; raises if unknown
CREATE FUNCTION duroxide._resolve_version(name text, version text) RETURNS text
    AS 'MODULE_PATHNAME', 'duroxide_resolve_version' LANGUAGE C;
-- internal (start_orchestration and the turns resolve in C): superusers only
REVOKE ALL ON FUNCTION duroxide._resolve_version(text, text) FROM PUBLIC;

-- create an instance and queue its start (idempotent); returns true when created.
-- The dispatchers' (src/dispatch_effects.c CreateInstance): it writes any owner and
-- parent, so it is not executable by PUBLIC
CREATE FUNCTION duroxide._create_instance(p_instance_id text, p_name text, p_version text,
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

-- true for superusers and members of duroxide_admin; executable by PUBLIC:
-- the row-level security policies call it as the querying role
CREATE FUNCTION duroxide._is_admin() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
        OR pg_has_role(current_user, 'duroxide_admin', 'MEMBER')
$$;

-- raise a clear error when a payload is larger than duroxide.max_payload_size
CREATE FUNCTION duroxide._check_payload(what text, value jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_check_payload' LANGUAGE C;
-- internal (the C functions check payloads directly): superusers only
REVOKE ALL ON FUNCTION duroxide._check_payload(text, jsonb) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------ */

-- C (src/registration.c): check the caller (duroxide_user, EXECUTE on fn, the
-- signature, another role's registration only for admins), then write with
-- the engine's rights; duroxide_user cannot write the registry tables itself.
-- fn is stored as its identity text (src/registry.c).
CREATE FUNCTION duroxide.register_orchestration(name text, fn regproc, version text DEFAULT '1.0.0')
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_register_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.register_orchestration(text, regproc, text) IS
    'register (or replace) an orchestration function (ctx duroxide.context, input jsonb) RETURNS jsonb under a name and semantic version';

CREATE FUNCTION duroxide.register_activity(name text, fn regproc) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_register_activity' LANGUAGE C;
COMMENT ON FUNCTION duroxide.register_activity(text, regproc) IS
    'register (or replace) an activity function (ctx duroxide.activity_context, input jsonb) RETURNS jsonb';

CREATE FUNCTION duroxide.unregister_orchestration(name text, version text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_unregister_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.unregister_orchestration(text, text) IS
    'remove an orchestration registration (all versions when version is NULL)';

CREATE FUNCTION duroxide.unregister_activity(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_unregister_activity' LANGUAGE C;
COMMENT ON FUNCTION duroxide.unregister_activity(text) IS 'remove an activity registration';

-- a registration depends on its function: DROP of a registered function is
-- refused, DROP ... CASCADE unregisters it, DROP OWNED BY r removes r's
-- registrations (src/registration.c)
CREATE FUNCTION duroxide._registered_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'duroxide_registered_drop' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._registered_drop() FROM PUBLIC;
CREATE EVENT TRIGGER duroxide_registered_drop ON sql_drop
    EXECUTE FUNCTION duroxide._registered_drop();
CREATE EVENT TRIGGER duroxide_registered_drop_owned ON ddl_command_end
    WHEN TAG IN ('DROP OWNED')
    EXECUTE FUNCTION duroxide._registered_drop();

/* ------------------------------------------------------------------------
 * Inside an orchestration (C, src/durable_api.c)
 *
 * Executable by PUBLIC: orchestration and activity code calls them as its
 * owner, and each checks that it runs inside a turn (or an activity) of the
 * instance named by its context.  _trace likewise: trace_* (SQL, run as
 * the caller) call it.
 * ------------------------------------------------------------------------ */

CREATE FUNCTION duroxide.schedule_activity(ctx duroxide.context, name text, input jsonb DEFAULT NULL)
RETURNS duroxide.task AS 'MODULE_PATHNAME', 'duroxide_schedule_activity' LANGUAGE C;
COMMENT ON FUNCTION duroxide.schedule_activity(duroxide.context, text, jsonb) IS
    'schedule an activity; returns a task to await';

CREATE FUNCTION duroxide.schedule_activity_with_retry(ctx duroxide.context, name text, input jsonb, retry jsonb)
RETURNS duroxide.task AS 'MODULE_PATHNAME', 'duroxide_schedule_activity_with_retry' LANGUAGE C;
COMMENT ON FUNCTION duroxide.schedule_activity_with_retry(duroxide.context, text, jsonb, jsonb) IS
    'schedule an activity with a retry policy {maxAttempts, backoff, initialDelayMs, maxDelayMs, timeoutMs, totalTimeoutMs}';

CREATE FUNCTION duroxide.schedule_timer(ctx duroxide.context, delay_ms bigint)
RETURNS duroxide.task AS 'MODULE_PATHNAME', 'duroxide_schedule_timer' LANGUAGE C;
COMMENT ON FUNCTION duroxide.schedule_timer(duroxide.context, bigint) IS
    'schedule a durable timer; its task completes with null after delay_ms';

CREATE FUNCTION duroxide.schedule_wait_for_event(ctx duroxide.context, event_name text)
RETURNS duroxide.task AS 'MODULE_PATHNAME', 'duroxide_schedule_wait_for_event' LANGUAGE C;
COMMENT ON FUNCTION duroxide.schedule_wait_for_event(duroxide.context, text) IS
    'subscribe to the next arrival of an external event; the task completes with its data';

CREATE FUNCTION duroxide.schedule_sub_orchestration(ctx duroxide.context, name text, input jsonb DEFAULT NULL,
                                                    instance_id text DEFAULT NULL, version text DEFAULT NULL)
RETURNS duroxide.task AS 'MODULE_PATHNAME', 'duroxide_schedule_sub_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.schedule_sub_orchestration(duroxide.context, text, jsonb, text, text) IS
    'start a child orchestration; the task completes with its output';

CREATE FUNCTION duroxide.await(task duroxide.task) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'duroxide_await' LANGUAGE C;
COMMENT ON FUNCTION duroxide.await(duroxide.task) IS
    'the result of a task; raises DX001 (activity) or DX002 (sub-orchestration) if it failed';

CREATE FUNCTION duroxide.await_all(tasks duroxide.task[]) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'duroxide_await_all' LANGUAGE C;
COMMENT ON FUNCTION duroxide.await_all(duroxide.task[]) IS
    'results of all tasks as a jsonb array in argument order; raises the first failure once all are done';

CREATE FUNCTION duroxide.await_all_settled(tasks duroxide.task[]) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'duroxide_await_all_settled' LANGUAGE C;
COMMENT ON FUNCTION duroxide.await_all_settled(duroxide.task[]) IS
    'outcomes of all tasks: [{"ok": value} | {"error": message}, ...]';

CREATE FUNCTION duroxide.await_any(tasks duroxide.task[], OUT index integer, OUT value jsonb)
    AS 'MODULE_PATHNAME', 'duroxide_await_any' LANGUAGE C;
COMMENT ON FUNCTION duroxide.await_any(duroxide.task[]) IS
    'the first task to finish (1-based index, value); pending losers are cancelled';

CREATE FUNCTION duroxide.start_orchestration_detached(ctx duroxide.context, name text, instance_id text,
                                                      input jsonb DEFAULT NULL, version text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_start_orchestration_detached' LANGUAGE C;
COMMENT ON FUNCTION duroxide.start_orchestration_detached(duroxide.context, text, text, jsonb, text) IS
    'fire-and-forget start of another orchestration, recorded in history';

CREATE FUNCTION duroxide.continue_as_new(ctx duroxide.context, input jsonb, version text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'duroxide_continue_as_new' LANGUAGE C;
COMMENT ON FUNCTION duroxide.continue_as_new(duroxide.context, jsonb, text) IS
    'end this execution and start a new one with fresh history and new input; never returns';

CREATE FUNCTION duroxide.utc_now(ctx duroxide.context) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'duroxide_utc_now' LANGUAGE C;
COMMENT ON FUNCTION duroxide.utc_now(duroxide.context) IS 'the current time, recorded: identical on every replay';

CREATE FUNCTION duroxide.new_guid(ctx duroxide.context) RETURNS uuid
    AS 'MODULE_PATHNAME', 'duroxide_new_guid' LANGUAGE C;
COMMENT ON FUNCTION duroxide.new_guid(duroxide.context) IS 'a random uuid, recorded: identical on every replay';

CREATE FUNCTION duroxide.is_replaying(ctx duroxide.context) RETURNS boolean
    AS 'MODULE_PATHNAME', 'duroxide_is_replaying' LANGUAGE C;
COMMENT ON FUNCTION duroxide.is_replaying(duroxide.context) IS
    'true while the orchestration re-executes code that an earlier turn already ran';

CREATE FUNCTION duroxide.set_custom_status(ctx duroxide.context, status jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_set_custom_status' LANGUAGE C;
COMMENT ON FUNCTION duroxide.set_custom_status(duroxide.context, jsonb) IS
    'custom status shown by get_orchestration_status once the turn commits';

CREATE FUNCTION duroxide._trace(ctx duroxide.context, level text, message text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_trace' LANGUAGE C;
CREATE FUNCTION duroxide._trace(ctx duroxide.activity_context, level text, message text) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_activity_trace' LANGUAGE C;

CREATE FUNCTION duroxide.trace_info(ctx duroxide.context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'info', message) $$;
CREATE FUNCTION duroxide.trace_warn(ctx duroxide.context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'warn', message) $$;
CREATE FUNCTION duroxide.trace_error(ctx duroxide.context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'error', message) $$;
CREATE FUNCTION duroxide.trace_debug(ctx duroxide.context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'debug', message) $$;
CREATE FUNCTION duroxide.trace_info(ctx duroxide.activity_context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'info', message) $$;
CREATE FUNCTION duroxide.trace_warn(ctx duroxide.activity_context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'warn', message) $$;
CREATE FUNCTION duroxide.trace_error(ctx duroxide.activity_context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'error', message) $$;
CREATE FUNCTION duroxide.trace_debug(ctx duroxide.activity_context, message text) RETURNS void
    LANGUAGE sql AS $$ SELECT duroxide._trace(ctx, 'debug', message) $$;
COMMENT ON FUNCTION duroxide.trace_info(duroxide.context, text) IS
    'log a line with the instance id, execution id and orchestration name; suppressed while replaying';
COMMENT ON FUNCTION duroxide.trace_info(duroxide.activity_context, text) IS
    'log a line with the activity name, activity id, instance id and worker id';

-- an activity written in C against src/duroxide.h (json-c), as an example; a
-- test fixture, not shipped executable by PUBLIC (tests create their own
-- function AS 'duroxide', 'duroxide_c_example_activity')
CREATE FUNCTION duroxide._c_example_activity(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'duroxide_c_example_activity' LANGUAGE C;
COMMENT ON FUNCTION duroxide._c_example_activity(duroxide.activity_context, jsonb) IS
    'example C activity: returns {"input", "attempt", "via": "json-c"}; fails with the text of input->>''fail''';
REVOKE ALL ON FUNCTION duroxide._c_example_activity(duroxide.activity_context, jsonb) FROM PUBLIC;

/* blocking shorthands: schedule + await */

-- call_activity and call_activity_with_retry are C (src/durable_api.c): the
-- same as await(schedule_activity(...)), with a fast path for a call whose
-- result is recorded (src/replay_fast.c)
CREATE FUNCTION duroxide.call_activity(ctx duroxide.context, name text, input jsonb DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'duroxide_call_activity' LANGUAGE C;
CREATE FUNCTION duroxide.call_activity_with_retry(ctx duroxide.context, name text, input jsonb, retry jsonb)
RETURNS jsonb AS 'MODULE_PATHNAME', 'duroxide_call_activity_with_retry' LANGUAGE C;
CREATE FUNCTION duroxide.call_sub_orchestration(ctx duroxide.context, name text, input jsonb DEFAULT NULL,
                                                instance_id text DEFAULT NULL, version text DEFAULT NULL)
RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT duroxide.await(duroxide.schedule_sub_orchestration(ctx, name, input, instance_id, version)) $$;
CREATE FUNCTION duroxide.sleep(ctx duroxide.context, delay_ms bigint) RETURNS void
    LANGUAGE sql AS $$ SELECT NULL::void FROM (SELECT duroxide.await(duroxide.schedule_timer(ctx, delay_ms))) s $$;
CREATE FUNCTION duroxide.wait_for_event(ctx duroxide.context, event_name text) RETURNS jsonb
    LANGUAGE sql AS $$ SELECT duroxide.await(duroxide.schedule_wait_for_event(ctx, event_name)) $$;
COMMENT ON FUNCTION duroxide.call_activity(duroxide.context, text, jsonb) IS 'schedule an activity and await its result';
COMMENT ON FUNCTION duroxide.call_activity_with_retry(duroxide.context, text, jsonb, jsonb) IS
    'schedule an activity with a retry policy and await its result';
COMMENT ON FUNCTION duroxide.call_sub_orchestration(duroxide.context, text, jsonb, text, text) IS
    'start a child orchestration and await its output';
COMMENT ON FUNCTION duroxide.sleep(duroxide.context, bigint) IS 'wait on a durable timer';
COMMENT ON FUNCTION duroxide.wait_for_event(duroxide.context, text) IS 'wait for an external event and return its data';

/* ------------------------------------------------------------------------
 * Client functions
 * ------------------------------------------------------------------------ */

-- C (src/client.c), executable by PUBLIC: each checks its caller itself
-- (start_orchestration: membership of duroxide_user or duroxide_admin; the
-- others: the instance as row-level security shows it to the caller), then
-- writes with the engine's rights.  duroxide_user cannot write the engine's
-- tables directly.  start_orchestration: the checks of duroxide._check_name
-- and _check_payload, the version resolution of the turns (src/registry.c),
-- two inserts
CREATE FUNCTION duroxide.start_orchestration(instance_id text, name text, input jsonb DEFAULT NULL,
                                             version text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'duroxide_start_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.start_orchestration(text, text, jsonb, text) IS
    'start an orchestration instance (transactional, idempotent on instance_id); returns the instance id';

CREATE FUNCTION duroxide.raise_event(instance_id text, event_name text, data jsonb DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_raise_event' LANGUAGE C;
COMMENT ON FUNCTION duroxide.raise_event(text, text, jsonb) IS
    'deliver an external event to a running instance (ignored if the instance is terminal)';

CREATE FUNCTION duroxide.cancel_orchestration(instance_id text, reason text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_cancel_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.cancel_orchestration(text, text) IS
    'cancel a running instance at its next turn, and its sub-orchestrations recursively';

-- get_orchestration_status, get_history, get_system_metrics, get_queue_depths
-- (SQL, executable by PUBLIC) only read, as the caller: table privileges
-- (SELECT for duroxide_user) and row-level security decide what they see
CREATE FUNCTION duroxide.get_orchestration_status(instance_id text) RETURNS duroxide.orchestration_status
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r duroxide.orchestration_status;
BEGIN
    SELECT i.instance_id, i.orchestration_name, i.orchestration_version, i.status, i.output, i.error,
           i.custom_status, i.execution_id, i.created_at, i.updated_at, i.parent_instance_id
      INTO r FROM duroxide.instances i WHERE i.instance_id = get_orchestration_status.instance_id;
    IF NOT FOUND THEN
        r.instance_id := instance_id;
        r.status := 'NotFound';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION duroxide.get_orchestration_status(text) IS
    'status of an instance (status NotFound if it does not exist)';

CREATE FUNCTION duroxide.wait_for_orchestration(instance_id text, timeout_ms bigint DEFAULT 30000)
RETURNS duroxide.orchestration_status
    AS 'MODULE_PATHNAME', 'duroxide_wait_for_orchestration' LANGUAGE C;
COMMENT ON FUNCTION duroxide.wait_for_orchestration(text, bigint) IS
    'wait until the instance is terminal (woken by the commit that ends it); error after timeout_ms';

CREATE FUNCTION duroxide.get_history(instance_id text, execution_id integer DEFAULT NULL)
RETURNS TABLE (event_id bigint, event_type text, source_event_id bigint, created_at timestamptz, data jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT h.event_id, h.event_type, h.source_event_id, h.created_at, h.data
      FROM duroxide.history h
     WHERE h.instance_id = get_history.instance_id
       AND h.execution_id = coalesce(get_history.execution_id,
             (SELECT i.execution_id FROM duroxide.instances i WHERE i.instance_id = get_history.instance_id))
     ORDER BY h.event_id
$$;
COMMENT ON FUNCTION duroxide.get_history(text, integer) IS
    'history events of an execution (default: the current one), in order';

CREATE FUNCTION duroxide.delete_instance(instance_id text, force boolean DEFAULT false) RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_delete_instance' LANGUAGE C;
COMMENT ON FUNCTION duroxide.delete_instance(text, boolean) IS
    'delete a terminal instance (or a running one with force) with its sub-orchestrations, history and messages';

CREATE FUNCTION duroxide.get_system_metrics() RETURNS jsonb
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
COMMENT ON FUNCTION duroxide.get_system_metrics() IS 'instance counts by status, executions and history size';

CREATE FUNCTION duroxide.get_queue_depths()
RETURNS TABLE (orchestrator_queue bigint, worker_queue bigint, timer_queue bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (SELECT count(*) FROM duroxide.orchestrator_queue q WHERE q.visible_at <= now()),
           (SELECT count(*) FROM duroxide.worker_queue),
           (SELECT count(*) FROM duroxide.orchestrator_queue q WHERE q.visible_at > now())
$$;
COMMENT ON FUNCTION duroxide.get_queue_depths() IS
    'messages ready for dispatchers, activity attempts queued, and timers not yet due';

/* ------------------------------------------------------------------------
 * Management: views, retention
 * ------------------------------------------------------------------------ */

CREATE VIEW duroxide.instance_list WITH (security_invoker = true) AS
    SELECT i.instance_id, i.orchestration_name, i.orchestration_version, i.status,
           i.execution_id, i.parent_instance_id, i.owner, i.error, i.custom_status,
           i.created_at, i.updated_at, i.completed_at
      FROM duroxide.instances i;
COMMENT ON VIEW duroxide.instance_list IS
    'orchestration instances (a non-admin role sees only its own)';

-- instance_id is shown only to the instance's owner and admins (row-level
-- security decides, read as the caller); NULL for everyone else
CREATE FUNCTION duroxide._workers(OUT slot integer, OUT pid integer, OUT kind text, OUT state text,
                                  OUT instance_id text, OUT database oid)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'duroxide_workers' LANGUAGE C;

CREATE VIEW duroxide.workers AS
    SELECT w.slot, w.pid, w.kind, w.state, w.instance_id, d.datname AS database
      FROM duroxide._workers() w LEFT JOIN pg_catalog.pg_database d ON d.oid = w.database;
COMMENT ON VIEW duroxide.workers IS
    'the engine''s background workers (join with pg_stat_activity on pid)';

CREATE FUNCTION duroxide.purge_instances(older_than interval, batch_limit integer DEFAULT 10000)
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
COMMENT ON FUNCTION duroxide.purge_instances(interval, integer) IS
    'delete terminal instances (with their history and sub-orchestrations) that ended more than older_than ago; returns how many';

/* ------------------------------------------------------------------------
 * Security: roles, grants, row-level security
 *
 * duroxide_user   start, wait, query, raise events on, cancel and delete the
 *                 instances it started; register orchestrations/activities
 * duroxide_admin  all of that on every instance and registration
 * Superusers (and the engine's workers) bypass row-level security.
 * ------------------------------------------------------------------------ */

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'duroxide_user') THEN
        CREATE ROLE duroxide_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'duroxide_admin') THEN
        CREATE ROLE duroxide_admin NOLOGIN;
    END IF;
    IF NOT pg_has_role('duroxide_admin', 'duroxide_user', 'MEMBER') THEN
        GRANT duroxide_user TO duroxide_admin;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA duroxide TO PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA duroxide FROM PUBLIC;
-- every turn reads the registries as the registering role
GRANT SELECT ON duroxide.orchestrations, duroxide.activities TO PUBLIC;
-- registrations are written only by the registration functions (engine rights)
-- the engine's tables: read only (row-level security below), every write goes
-- through the client functions (src/client.c) and the engine's workers
GRANT SELECT ON duroxide.instances, duroxide.executions, duroxide.history,
    duroxide.orchestrator_queue, duroxide.worker_queue TO duroxide_user;
REVOKE ALL ON SEQUENCE duroxide.orchestrator_queue_id_seq, duroxide.worker_queue_id_seq FROM PUBLIC;
GRANT SELECT ON duroxide.instance_list, duroxide.workers TO duroxide_user;
-- called by the view duroxide.workers as the querying role
REVOKE ALL ON FUNCTION duroxide._workers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duroxide._workers() TO duroxide_user;
REVOKE ALL ON FUNCTION duroxide.purge_instances(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duroxide.purge_instances(interval, integer) TO duroxide_admin;

ALTER TABLE duroxide.instances ENABLE ROW LEVEL SECURITY;
CREATE POLICY instances_owner ON duroxide.instances
    USING (owner = current_user::regrole OR duroxide._is_admin());

ALTER TABLE duroxide.executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY executions_owner ON duroxide.executions
    USING (EXISTS (SELECT 1 FROM duroxide.instances i WHERE i.instance_id = executions.instance_id));
ALTER TABLE duroxide.history ENABLE ROW LEVEL SECURITY;
CREATE POLICY history_owner ON duroxide.history
    USING (EXISTS (SELECT 1 FROM duroxide.instances i WHERE i.instance_id = history.instance_id));
ALTER TABLE duroxide.orchestrator_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY orchestrator_queue_owner ON duroxide.orchestrator_queue
    USING (EXISTS (SELECT 1 FROM duroxide.instances i WHERE i.instance_id = orchestrator_queue.instance_id));
ALTER TABLE duroxide.worker_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY worker_queue_owner ON duroxide.worker_queue
    USING (EXISTS (SELECT 1 FROM duroxide.instances i WHERE i.instance_id = worker_queue.instance_id));

ALTER TABLE duroxide.orchestrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY orchestrations_read ON duroxide.orchestrations FOR SELECT USING (true);
CREATE POLICY orchestrations_insert ON duroxide.orchestrations FOR INSERT
    WITH CHECK (owner = current_user::regrole OR duroxide._is_admin());
CREATE POLICY orchestrations_update ON duroxide.orchestrations FOR UPDATE
    USING (owner = current_user::regrole OR duroxide._is_admin())
    WITH CHECK (owner = current_user::regrole OR duroxide._is_admin());
CREATE POLICY orchestrations_delete ON duroxide.orchestrations FOR DELETE
    USING (owner = current_user::regrole OR duroxide._is_admin());
ALTER TABLE duroxide.activities ENABLE ROW LEVEL SECURITY;
CREATE POLICY activities_read ON duroxide.activities FOR SELECT USING (true);
CREATE POLICY activities_insert ON duroxide.activities FOR INSERT
    WITH CHECK (owner = current_user::regrole OR duroxide._is_admin());
CREATE POLICY activities_update ON duroxide.activities FOR UPDATE
    USING (owner = current_user::regrole OR duroxide._is_admin())
    WITH CHECK (owner = current_user::regrole OR duroxide._is_admin());
CREATE POLICY activities_delete ON duroxide.activities FOR DELETE
    USING (owner = current_user::regrole OR duroxide._is_admin());

/* ------------------------------------------------------------------------
 * The protocol table (src/protocol.c)
 * ------------------------------------------------------------------------ */

-- the engine's message kinds and event types with what each message records,
-- completes and who produces it; internal (sql/60_protocol.sql compares it
-- with this script): superusers only
CREATE FUNCTION duroxide._protocol(OUT category text, OUT name text, OUT records text,
                                   OUT completes text, OUT from_child boolean,
                                   OUT elidable boolean, OUT producers text[])
RETURNS SETOF record AS 'MODULE_PATHNAME', 'duroxide_protocol' LANGUAGE C STABLE;
COMMENT ON FUNCTION duroxide._protocol() IS
    'internal: the message kinds (orchestrator_queue.kind) and event types (history.event_type) the engine knows';
REVOKE ALL ON FUNCTION duroxide._protocol() FROM PUBLIC;

/* ------------------------------------------------------------------------
 * history_diagram (API §8.4): an execution's history as a picture
 * ------------------------------------------------------------------------ */

-- C (src/diagram.c): reads as the caller with search_path pinned, so table
-- privileges and row-level security decide what it sees, as for get_history
-- (another role's instance: "does not exist"); writes nothing.  Executable
-- by duroxide_user (and so duroxide_admin), not by PUBLIC.
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

/* ------------------------------------------------------------------------
 * Schedules: recurring orchestrations fired by the engine (src/schedule.c,
 * expressions and fire times: src/cron.c)
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------
 * Operations: suspend and resume (API.md 8.1), activity concurrency
 * limits (API.md 8.3).  src/suspend.c, src/concurrency.c.
 * ------------------------------------------------------------------------ */

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

-- many databases: the launcher starts this database's workers
-- when the transaction that creates (or updates) the extension commits
CREATE FUNCTION duroxide._extension_created() RETURNS void
    AS 'MODULE_PATHNAME', 'duroxide_extension_created' LANGUAGE C;
REVOKE ALL ON FUNCTION duroxide._extension_created() FROM PUBLIC;
COMMENT ON FUNCTION duroxide._extension_created() IS
    'internal: tells the duroxide launcher at commit that this database has the extension';
SELECT duroxide._extension_created();
