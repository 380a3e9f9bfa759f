-- 49_schedules: the schedule API (create_schedule, drop_schedule,
-- pause_schedule, resume_schedule, the view duroxide.schedules): errors
-- with their SQLSTATEs, runs fired by the engine (@every observed by
-- polling the instances), at most one run after missed fire times (fired
-- deterministically by the internal duroxide._fire_schedules(now)), the
-- overlap policies, pause and resume, and a hostile second role.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE dx_sch_alice LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_sch_mallory LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_sch_admin LOGIN IN ROLE duroxide_admin;
CREATE ROLE dx_sch_outsider LOGIN;
CREATE SCHEMA sch49;
GRANT USAGE ON SCHEMA sch49 TO PUBLIC;

-- ends at once, saying who ran it
CREATE FUNCTION sch49.tick(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('ran_as', current_user::text, 'input', input);
END $$;
-- runs until it gets the event "go"
CREATE FUNCTION sch49.hold(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.wait_for_event(ctx, 'go'); END $$;
-- usable only by its owner (EXECUTE revoked from PUBLIC)
CREATE FUNCTION sch49.private(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"private"'::jsonb $$;
ALTER FUNCTION sch49.tick OWNER TO dx_sch_alice;
ALTER FUNCTION sch49.hold OWNER TO dx_sch_alice;
ALTER FUNCTION sch49.private OWNER TO dx_sch_alice;
REVOKE EXECUTE ON FUNCTION sch49.private FROM PUBLIC;

-- the SQLSTATE and message of a statement's error (NULL: none)
CREATE FUNCTION sch49.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION sch49.err TO PUBLIC;

-- the runs of a schedule: instance id, scheduled time (from the id), status
CREATE FUNCTION sch49.runs(p_schedule text)
RETURNS TABLE (instance_id text, fire_time timestamptz, status text)
LANGUAGE sql AS $$
    SELECT i.instance_id, split_part(i.instance_id, '@', 2)::timestamptz, i.status
      FROM duroxide.instances i
     WHERE i.instance_id LIKE p_schedule || '@%'
     ORDER BY 1
$$;

-- wait (bounded: 30 s times regress.wait_scale) until a schedule has at
-- least n runs, each Completed
CREATE PROCEDURE sch49.wait_runs(p_schedule text, p_n integer)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        EXIT WHEN (SELECT count(*) FILTER (WHERE status = 'Completed') FROM sch49.runs(p_schedule)) >= p_n;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

SET ROLE dx_sch_alice;
SELECT duroxide.register_orchestration('SchTick', 'sch49.tick');
SELECT duroxide.register_orchestration('SchHold', 'sch49.hold');
SELECT duroxide.register_orchestration('SchPrivate', 'sch49.private');
RESET ROLE;

-- section: invalid arguments are refused at once, naming what is wrong
SET ROLE dx_sch_alice;
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '61 * * * *', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * 8', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', 'every day', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '@every 1 month', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '@every 0.1 s', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '0 0 30 2 *', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', NULL, 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * *', 'SchTick', time_zone => 'Atlantis/Capital')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * *', 'SchTick', overlap => 'queue')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * *', 'NoSuchOrchestration')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * *', 'SchTick', version => '9.9.9')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * *', 'SchTick', version => 'x')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('s', '* * * * *', NULL)$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('', '* * * * *', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('a@b', '* * * * *', 'SchTick')$$);
SELECT sch49.err(format($$SELECT duroxide.create_schedule(%L, '* * * * *', 'SchTick')$$, repeat('x', 1000)));
SELECT sch49.err($$SELECT duroxide.drop_schedule('no-such-schedule')$$);
SELECT sch49.err($$SELECT duroxide.pause_schedule('no-such-schedule')$$);
SELECT sch49.err($$SELECT duroxide.resume_schedule(NULL)$$);
-- an existing name (duplicate_object)
SELECT duroxide.create_schedule('sch-dup', '0 0 1 1 *', 'SchTick');
SELECT sch49.err($$SELECT duroxide.create_schedule('sch-dup', '0 0 1 1 *', 'SchTick')$$);
SELECT duroxide.drop_schedule('sch-dup');
-- with hint and detail
\set VERBOSITY default
SELECT duroxide.create_schedule('s', '0 25 * * *', 'SchTick');
SELECT duroxide.create_schedule('s', '* * * * *', 'SchTick', overlap => 'queue');
RESET ROLE;
-- nothing was created
SELECT count(*) AS schedules FROM duroxide.schedules;

-- section: the view shows the caller's schedule; names are canonical
SET ROLE dx_sch_alice;
SELECT duroxide.create_schedule('sch-view', '0 9 * * MON-FRI', 'SchTick', '{"a": 1}', '1.0.0', 'allow', 'europe/berlin');
SELECT schedule_name, schedule, orchestration_name, version, overlap, time_zone, paused,
       next_run_at > now() AS next_in_future, last_run_at, last_instance_id, owner, last_error
  FROM duroxide.schedules;
RESET ROLE;
-- (computed as superuser: _schedule_next_runs is internal)
SELECT next_run_at = (SELECT t FROM duroxide._schedule_next_runs('0 9 * * 1-5', 'Europe/Berlin', now(), 1) t) AS next_is_right
  FROM duroxide.schedules WHERE schedule_name = 'sch-view';
SET ROLE dx_sch_alice;
SELECT duroxide.pause_schedule('sch-view');
SELECT duroxide.pause_schedule('sch-view');     -- paused already: nothing happens
SELECT schedule_name, paused, next_run_at FROM duroxide.schedules;
SELECT duroxide.drop_schedule('sch-view');
SELECT count(*) FROM duroxide.schedules;
RESET ROLE;

-- section: after downtime at most one run, the latest missed one
SET ROLE dx_sch_alice;
SELECT duroxide.create_schedule('sch-catchup', '0 0 1 1 *', 'SchTick', '{"catch": "up"}');
RESET ROLE;
SELECT duroxide._fire_schedules(now()) AS started_now;
-- five fire times (2027 .. 2031) passed: one run, for 2031
SELECT duroxide._fire_schedules('2031-06-01 00:00:00+00') AS started_2031;
SELECT instance_id, fire_time FROM sch49.runs('sch-catchup');
SELECT last_run_at, last_instance_id, next_run_at, last_error FROM duroxide.schedules WHERE schedule_name = 'sch-catchup';
-- fired already: nothing more at the same moment
SELECT duroxide._fire_schedules('2031-06-01 00:00:00+00') AS started_again;
-- the run is the owner's, with the schedule's input
SELECT status, output FROM duroxide.wait_for_orchestration('sch-catchup@2031-01-01T00:00:00.000Z', 20000);
SELECT owner FROM duroxide.instances WHERE instance_id = 'sch-catchup@2031-01-01T00:00:00.000Z';
-- an instance that exists already is a run fired already (idempotent id)
UPDATE duroxide.schedule_entries SET next_run_at = '2031-01-01 00:00:00+00' WHERE schedule_name = 'sch-catchup';
SELECT duroxide._fire_schedules('2031-06-01 00:00:00+00') AS started_existing;
SELECT count(*) AS runs FROM sch49.runs('sch-catchup');
SELECT next_run_at FROM duroxide.schedules WHERE schedule_name = 'sch-catchup';
SELECT duroxide.drop_schedule('sch-catchup');

-- section: overlap skip: no run while the previous one is running; allow: run anyway
SET ROLE dx_sch_alice;
SELECT duroxide.create_schedule('sch-skip', '0 0 1 1 *', 'SchHold');
SELECT duroxide.create_schedule('sch-allow', '0 0 1 1 *', 'SchHold', overlap => 'allow');
RESET ROLE;
SELECT duroxide._fire_schedules('2030-06-01 00:00:00+00') AS started_2030;
CALL regress.wait_for_event_type('sch-skip@2030-01-01T00:00:00.000Z', 'EventSubscribed');
SELECT duroxide._fire_schedules('2031-06-01 00:00:00+00') AS started_2031;
SELECT instance_id, status FROM sch49.runs('sch-skip') UNION ALL
SELECT instance_id, status FROM sch49.runs('sch-allow') ORDER BY 1;
SELECT schedule_name, last_instance_id, next_run_at FROM duroxide.schedules ORDER BY 1;
-- the previous run ended: the next fire time starts one
SELECT duroxide.raise_event('sch-skip@2030-01-01T00:00:00.000Z', 'go', '"done"');
SELECT status FROM duroxide.wait_for_orchestration('sch-skip@2030-01-01T00:00:00.000Z', 20000);
SELECT duroxide._fire_schedules('2032-06-01 00:00:00+00') AS started_2032;
SELECT instance_id FROM sch49.runs('sch-skip');
SELECT duroxide.drop_schedule('sch-skip');
SELECT duroxide.drop_schedule('sch-allow');
SELECT duroxide.raise_event(instance_id, 'go') FROM duroxide.instances
 WHERE instance_id LIKE 'sch-skip@%' OR instance_id LIKE 'sch-allow@%';
SELECT count(*) FROM duroxide.instances
 WHERE (instance_id LIKE 'sch-skip@%' OR instance_id LIKE 'sch-allow@%')
   AND (duroxide.wait_for_orchestration(instance_id, 20000)).status = 'Completed';

-- section: another role cannot take the id of a run (it would keep the run from starting)
SET ROLE dx_sch_alice;
SELECT duroxide.create_schedule('sch-taken', '0 0 1 1 *', 'SchTick');
RESET ROLE;
SET ROLE dx_sch_mallory;
SELECT duroxide.register_orchestration('MalTick', 'sch49.tick');
SELECT sch49.err($$SELECT duroxide.start_orchestration('sch-taken@2030-01-01T00:00:00.000Z', 'MalTick')$$);
-- nor a name whose runs would collide with its own instances
SELECT duroxide.start_orchestration('mal-squat@2030-01-01T00:00:00.000Z', 'MalTick');
RESET ROLE;
SET ROLE dx_sch_alice;
SELECT sch49.err($$SELECT duroxide.create_schedule('mal-squat', '0 0 1 1 *', 'SchTick')$$);
-- the owner may start such an id itself: the run then counts as fired
SELECT duroxide.start_orchestration('sch-taken@2030-01-01T00:00:00.000Z', 'SchTick');
RESET ROLE;
SELECT duroxide._fire_schedules('2030-06-01 00:00:00+00') AS started_taken;
SELECT instance_id, owner FROM duroxide.instances WHERE instance_id LIKE 'sch-taken@%' OR instance_id LIKE 'mal-squat@%' ORDER BY 1;

-- section: a run that cannot start is recorded; the schedule moves on
SET ROLE dx_sch_alice;
SELECT duroxide.register_orchestration('SchGone', 'sch49.tick');
SELECT duroxide.create_schedule('sch-gone', '0 0 1 1 *', 'SchGone');
SELECT duroxide.unregister_orchestration('SchGone');
RESET ROLE;
SET client_min_messages = error;
SELECT duroxide._fire_schedules('2030-06-01 00:00:00+00') AS started_gone;
RESET client_min_messages;
SELECT schedule_name, last_run_at, last_instance_id, next_run_at, last_error FROM duroxide.schedules
 WHERE schedule_name IN ('sch-taken', 'sch-gone') ORDER BY 1;
SELECT duroxide.drop_schedule('sch-taken');
SELECT duroxide.drop_schedule('sch-gone');

-- section: a schedule whose owner was dropped stops (no role can run it)
CREATE ROLE dx_sch_gone LOGIN IN ROLE duroxide_user;
SET ROLE dx_sch_gone;
SELECT duroxide.create_schedule('sch-orphan', '0 0 1 1 *', 'SchTick');
RESET ROLE;
DROP ROLE dx_sch_gone;
SET client_min_messages = error;
SELECT duroxide._fire_schedules('2030-06-01 00:00:00+00') AS started_orphan;
RESET client_min_messages;
SELECT schedule_name, next_run_at, regexp_replace(last_error, 'OID \d+', 'OID n') AS last_error
  FROM duroxide.schedules WHERE schedule_name = 'sch-orphan';
SELECT count(*) AS orphan_runs FROM sch49.runs('sch-orphan');
SELECT duroxide.drop_schedule('sch-orphan');

-- section: the engine fires @every runs, as the owner, one per fire time
SET ROLE dx_sch_alice;
SELECT duroxide.create_schedule('sch-every', '@every 1 second', 'SchTick', '{"n": 1}');
RESET ROLE;
CALL sch49.wait_runs('sch-every', 3);
SELECT count(*) >= 3 AS three_runs,
       bool_and(instance_id ~ '^sch-every@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$') AS ids_well_formed,
       count(DISTINCT fire_time) = count(*) AS one_per_fire_time
  FROM sch49.runs('sch-every');
SELECT DISTINCT i.owner, i.output->>'ran_as' AS ran_as, i.output->'input' AS input
  FROM duroxide.instances i JOIN sch49.runs('sch-every') r USING (instance_id) WHERE r.status = 'Completed';
-- the view: last run, the next fire time after it
SELECT last_instance_id = (SELECT max(instance_id) FROM sch49.runs('sch-every')) AS last_is_latest,
       next_run_at > last_run_at AS next_after_last, last_error
  FROM duroxide.schedules WHERE schedule_name = 'sch-every';

-- section: paused, it fires nothing; resumed, it fires again from now on
SET ROLE dx_sch_alice;
SELECT duroxide.create_schedule('sch-control', '@every 1 second', 'SchTick');
SELECT duroxide.pause_schedule('sch-every');
RESET ROLE;
CREATE TEMP TABLE paused AS
    SELECT clock_timestamp() AS at, (SELECT count(*) FROM sch49.runs('sch-every')) AS runs,
           (SELECT count(*) FROM sch49.runs('sch-control')) AS control_runs;
-- while the control schedule fires three more runs
DO $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        EXIT WHEN (SELECT count(*) FROM sch49.runs('sch-control')) >= (SELECT control_runs FROM paused) + 3;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT (SELECT count(*) FROM sch49.runs('sch-control')) >= control_runs + 3 AS control_fired,
       (SELECT count(*) FROM sch49.runs('sch-every')) = runs AS paused_fired_nothing
  FROM paused;
SELECT paused, next_run_at FROM duroxide.schedules WHERE schedule_name = 'sch-every';
-- (taken before the resume: its first fire time is after the resume's start)
CREATE TEMP TABLE resumed AS SELECT clock_timestamp() AS at;
SET ROLE dx_sch_alice;
SELECT duroxide.resume_schedule('sch-every');
SELECT duroxide.resume_schedule('sch-every');     -- running already: nothing happens
RESET ROLE;
DO $$ DECLARE n integer := (SELECT runs + 2 FROM paused); BEGIN CALL sch49.wait_runs('sch-every', n); END $$;
-- no run for the fire times missed while paused
SELECT count(*) FILTER (WHERE r.fire_time > p.at AND r.fire_time <= (SELECT at FROM resumed)) AS runs_while_paused,
       count(*) FILTER (WHERE r.fire_time > (SELECT at FROM resumed)) >= 2 AS runs_after_resume
  FROM sch49.runs('sch-every') r, paused p;

-- section: another role neither sees nor changes alice's schedules
SET ROLE dx_sch_mallory;
SELECT count(*) AS mallory_sees FROM duroxide.schedules;
SELECT count(*) AS mallory_sees_rows FROM duroxide.schedule_entries;
SELECT sch49.err($$SELECT duroxide.drop_schedule('sch-every')$$);
SELECT sch49.err($$SELECT duroxide.pause_schedule('sch-every')$$);
SELECT sch49.err($$SELECT duroxide.resume_schedule('sch-every')$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('sch-every', '* * * * *', 'MalTick')$$);
-- nor schedules an orchestration whose function it may not execute
SELECT sch49.err($$SELECT duroxide.create_schedule('mal-private', '* * * * *', 'SchPrivate')$$);
-- nor writes the table, nor calls the internal functions
SELECT sch49.err($$INSERT INTO duroxide.schedule_entries (schedule_name, schedule, orchestration_name, anchor, next_run_at, owner)
                   VALUES ('mal', '* * * * *', 'SchPrivate', now(), now(), 'dx_sch_alice')$$);
SELECT sch49.err($$UPDATE duroxide.schedule_entries SET paused = true$$);
SELECT sch49.err($$DELETE FROM duroxide.schedule_entries$$);
SELECT sch49.err($$SELECT duroxide._fire_schedules(now())$$);
SELECT sch49.err($$SELECT duroxide._schedule_next_runs('* * * * *', 'UTC', now(), 1)$$);
RESET ROLE;
SET ROLE dx_sch_outsider;
SELECT sch49.err($$SELECT count(*) FROM duroxide.schedules$$);
SELECT sch49.err($$SELECT duroxide.create_schedule('out', '* * * * *', 'SchTick')$$);
SELECT sch49.err($$SELECT duroxide.drop_schedule('sch-every')$$);
RESET ROLE;
SELECT schedule_name, paused FROM duroxide.schedules ORDER BY 1;
SELECT count(*) AS mal_private_runs FROM sch49.runs('mal-private');

-- section: an admin sees and changes every schedule
SET ROLE dx_sch_admin;
SELECT schedule_name, owner FROM duroxide.schedules ORDER BY 1;
SELECT duroxide.pause_schedule('sch-control');
RESET ROLE;
SELECT schedule_name, paused FROM duroxide.schedules ORDER BY 1;

-- section: grants
SELECT has_function_privilege('public', 'duroxide._fire_schedules(timestamptz)', 'EXECUTE') AS public_may_fire,
       has_table_privilege('duroxide_user', 'duroxide.schedule_entries', 'INSERT') AS user_may_insert,
       has_table_privilege('duroxide_user', 'duroxide.schedules', 'SELECT') AS user_may_read_view,
       has_table_privilege('public', 'duroxide.schedules', 'SELECT') AS public_may_read_view;

-- section: dropped, they fire no more; their runs stay
SELECT duroxide.drop_schedule('sch-every');
SELECT duroxide.drop_schedule('sch-control');
SELECT count(*) AS schedules FROM duroxide.schedules;
SELECT count(*) > 0 AS runs_kept FROM sch49.runs('sch-every');
CALL regress.settle();
RESET TimeZone;
