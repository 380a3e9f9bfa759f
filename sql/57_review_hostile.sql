-- 57_review_hostile: the security review of the 0.2 additions (external
-- tasks, schedules, suspensions, activity limits, the many-databases hook):
-- what a hostile duroxide_user tries against them, and gets nothing.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE dx_rv_alice LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_rv_mallory LOGIN IN ROLE duroxide_user;
CREATE SCHEMA rv57;
GRANT USAGE ON SCHEMA rv57 TO PUBLIC;
CREATE FUNCTION rv57.tick(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"tick"'::jsonb $$;
ALTER FUNCTION rv57.tick OWNER TO dx_rv_alice;

-- the SQLSTATE of a statement's error (NULL: none)
CREATE FUNCTION rv57.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
GRANT EXECUTE ON FUNCTION rv57.err TO PUBLIC;

-- section: complete_tasks is bounded (each element's statements keep memory
-- until the call returns: 10^5 elements took 800 MB, 10^6 some 8 GB)
SET ROLE dx_rv_mallory;
SELECT cardinality(duroxide.complete_tasks(array_agg(g::bigint), array_agg('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
                               array_agg(NULL::jsonb))) AS over_the_bound
  FROM generate_series(1, 1001) g;
SELECT cardinality(duroxide.complete_tasks(array_agg(g::bigint), array_agg('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
                               array_agg(NULL::jsonb))) AS at_the_bound,
       bool_or(false) AS none_taken
  FROM generate_series(1, 1000) g;
SELECT duroxide.complete_tasks('{{1},{2}}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
                               '{null,null}') AS two_dimensional;
SELECT duroxide.complete_tasks('{1}', '{}', '{null}');
SELECT duroxide.complete_tasks('{1}', '{NULL}', '{null}');
RESET ROLE;

-- section: no row or table lock on an engine table (needs UPDATE, or more
-- than SELECT for LOCK TABLE), so no tenant stalls the engine's statements
SET ROLE dx_rv_mallory;
SELECT t AS engine_table, m AS lock_mode,
       rv57.err(format('SELECT 1 FROM duroxide.%I FOR %s', t, m)) AS sqlstate
  FROM unnest(ARRAY['activity_limits', 'schedule_entries', 'suspensions', 'worker_queue', 'instances',
                    'activities', 'orchestrations']) t,
       unnest(ARRAY['KEY SHARE', 'SHARE', 'NO KEY UPDATE', 'UPDATE']) m
 ORDER BY 1, 2;
SELECT t AS engine_table, rv57.err(format('LOCK TABLE duroxide.%I IN ROW SHARE MODE', t)) AS row_share,
       rv57.err(format('LOCK TABLE duroxide.%I IN SHARE MODE', t)) AS share
  FROM unnest(ARRAY['activity_limits', 'schedule_entries', 'suspensions', 'worker_queue', 'instances']) t
 ORDER BY 1;
RESET ROLE;

-- section: the internal functions of the additions run for nobody but the engine
-- (those listed are 0.1's, meant for every caller: pure helpers, _is_admin
-- used by policies, _trace called by the trace_* wrappers, _workers by the view)
SELECT p.oid::regprocedure AS internal_function,
       has_function_privilege('dx_rv_mallory', p.oid, 'EXECUTE') AS tenant,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'duroxide' AND p.proname LIKE '\_%'
   AND (has_function_privilege('dx_rv_mallory', p.oid, 'EXECUTE')
        OR has_function_privilege('public', p.oid, 'EXECUTE'))
 ORDER BY 1::text;
SELECT p.oid::regprocedure AS security_definer FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'duroxide' AND p.prosecdef;
SELECT c.relname AS table_without_rls FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'duroxide' AND c.relkind = 'r' AND NOT c.relrowsecurity
   AND has_table_privilege('duroxide_user', c.oid, 'SELECT') ORDER BY 1;
SELECT c.relname AS view_as_owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'duroxide' AND c.relkind = 'v'
   AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false) ORDER BY 1;

-- section: a schedule of another role's orchestration stops starting runs
-- once that role revokes EXECUTE (checked at every run, as the scheduler)
SET ROLE dx_rv_alice;
SELECT duroxide.register_orchestration('RvTick', 'rv57.tick');
RESET ROLE;
SET ROLE dx_rv_mallory;
SELECT duroxide.create_schedule('rv-borrowed', '0 0 1 1 *', 'RvTick');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rv57.tick FROM PUBLIC;
SET client_min_messages = error;
SELECT duroxide._fire_schedules('2030-06-01 00:00:00+00') >= 0 AS fired;
RESET client_min_messages;
SELECT schedule_name, last_instance_id IS NULL AS no_run, last_error ~ 'permission denied' AS refused
  FROM duroxide.schedules WHERE schedule_name = 'rv-borrowed';
SELECT count(*) AS runs FROM duroxide.instances WHERE instance_id LIKE 'rv-borrowed@%';

-- section: clean up
SELECT duroxide.drop_schedule('rv-borrowed');
SET ROLE dx_rv_alice;
SELECT duroxide.unregister_orchestration('RvTick');
RESET ROLE;
DROP SCHEMA rv57 CASCADE;
DROP OWNED BY dx_rv_alice, dx_rv_mallory;
DROP ROLE dx_rv_alice, dx_rv_mallory;
