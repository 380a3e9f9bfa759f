-- 25_sandbox: user code runs in a sandbox (src/sandbox.h).  A hostile
-- duroxide_user (sb_attacker) shares the engine's workers with a victim
-- (sb_victim).  The attacker's activities and orchestrations try to reach the
-- workers' superuser rights by shadowing what engine statements call
-- (search_path set at session level), to leave session state behind (temp
-- tables, prepared statements, cursors, LISTEN, advisory locks, settings)
-- and to change role.  Each round runs the attacker's instance, then the
-- victim's, in the same two activity workers and two dispatchers.  At the
-- end: the attacker gained nothing, the victim's instances completed and
-- their writes went where they belong, and the victim's code saw a clean
-- session every time.

-- section: two tenants
CREATE ROLE sb_attacker;
CREATE ROLE sb_victim;
GRANT duroxide_user TO sb_attacker, sb_victim;
CREATE SCHEMA sb_evil AUTHORIZATION sb_attacker;
CREATE SCHEMA sb_app AUTHORIZATION sb_victim;

-- section: the attacker's shadows of what engine statements use
SET ROLE sb_attacker;
-- who called a shadow; a row with superuser = true is a breach
CREATE TABLE sb_evil.calls (fn text, usr text, superuser boolean);
GRANT INSERT ON sb_evil.calls TO PUBLIC;
CREATE FUNCTION sb_evil.gotcha(fn text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sb_evil.calls
    SELECT fn, current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
    BEGIN
        EXECUTE 'ALTER ROLE sb_attacker SUPERUSER';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
END
$$;
CREATE FUNCTION sb_evil.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION sb_evil.clock_timestamp() RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION sb_evil.unnest(anyarray) RETURNS SETOF anyelement
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION sb_evil.text_eq(a text, b text) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('=(text,text)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR sb_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sb_evil.text_eq);
CREATE FUNCTION sb_evil.int8_eq(a bigint, b bigint) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('=(bigint,bigint)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR sb_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sb_evil.int8_eq);
CREATE FUNCTION sb_evil.int4_eq(a integer, b integer) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('=(integer,integer)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR sb_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = sb_evil.int4_eq);
CREATE FUNCTION sb_evil.int4_pl(a integer, b integer) RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('+(integer,integer)'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR sb_evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = sb_evil.int4_pl);
CREATE FUNCTION sb_evil.ts_le(a timestamptz, b timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('<=(timestamptz,timestamptz)'); RETURN a OPERATOR(pg_catalog.<=) b; END $$;
CREATE OPERATOR sb_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = sb_evil.ts_le);
CREATE FUNCTION sb_evil.jsonb_field(a jsonb, b text) RETURNS text
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('->>(jsonb,text)'); RETURN a OPERATOR(pg_catalog.->>) b; END $$;
CREATE OPERATOR sb_evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = sb_evil.jsonb_field);
CREATE FUNCTION sb_evil.text_cat(a text, b text) RETURNS text
LANGUAGE plpgsql AS $$ BEGIN PERFORM sb_evil.gotcha('||(text,text)'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR sb_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = sb_evil.text_cat);

-- section: the attacker's activity: every way to leave something behind
-- (each attempt in its own block; the result says what happened)
CREATE FUNCTION sb_evil.poison(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := '{}';
    stmt text;
    stmts text[] := ARRAY[
        'CREATE TEMP TABLE ledger (instance text, n integer)',
        'PREPARE sb_plan AS SELECT 1',
        'DECLARE sb_hold CURSOR WITH HOLD FOR SELECT 1',
        'LISTEN sb_channel',
        'SET ROLE sb_victim',
        'SET SESSION AUTHORIZATION sb_victim',
        'RESET ROLE',
        'DISCARD ALL'];
BEGIN
    FOREACH stmt IN ARRAY stmts LOOP
        BEGIN
            EXECUTE stmt;
            r := r || jsonb_build_object(stmt, 'done');
        EXCEPTION WHEN OTHERS THEN
            r := r || jsonb_build_object(stmt, SQLERRM);
        END;
    END LOOP;
    BEGIN
        PERFORM set_config('role', 'sb_victim', false);
        r := r || jsonb_build_object('set_config(role)', 'done');
    EXCEPTION WHEN OTHERS THEN
        r := r || jsonb_build_object('set_config(role)', SQLERRM);
    END;
    -- these succeed, and must not outlive the call
    PERFORM pg_advisory_lock(4242);
    EXECUTE 'DECLARE sb_open CURSOR FOR SELECT 1';
    PERFORM set_config('statement_timeout', '1', false);
    PERFORM set_config('lock_timeout', '1', false);
    PERFORM set_config('work_mem', '64', false);
    PERFORM set_config('search_path', 'sb_evil, pg_catalog, public', false);
    RETURN r;
END
$$;

-- the attacker's orchestration poisons the dispatcher's session the same way
CREATE FUNCTION sb_evil.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM set_config('search_path', 'sb_evil, pg_catalog, public', false);
    PERFORM set_config('lock_timeout', '1', false);
    r := duroxide.call_activity(ctx, 'sb_poison', input);
    PERFORM set_config('search_path', 'sb_evil, pg_catalog, public', false);
    RETURN r;
END
$$;
SELECT duroxide.register_activity('sb_poison', 'sb_evil.poison');
SELECT duroxide.register_orchestration('sb_attack', 'sb_evil.orch');
RESET ROLE;

-- section: the victim: writes into its own ledger (its function pins its
-- search_path, as the issue's victim did) and reports the session it saw
SET ROLE sb_victim;
CREATE TABLE sb_app.ledger (instance text, n integer);
CREATE FUNCTION sb_app.record(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = sb_app, public AS $$
BEGIN
    INSERT INTO ledger VALUES (ctx.instance_id, (input->>'n')::integer);
    RETURN input;
END
$$;
CREATE FUNCTION sb_app.probe(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_catalog.jsonb_build_object(
        'search_path', pg_catalog.current_setting('search_path'),
        'statement_timeout', pg_catalog.current_setting('statement_timeout'),
        'lock_timeout', pg_catalog.current_setting('lock_timeout'),
        'work_mem', pg_catalog.current_setting('work_mem'),
        'current_user', current_user::text,
        'temp_tables', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c
                         WHERE c.relpersistence OPERATOR(pg_catalog.=) 't'),
        'prepared', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements),
        'cursors', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_cursors),
        'listening', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_listening_channels()))
$$;
CREATE FUNCTION sb_app.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t duroxide.task[] := '{}';
    seen jsonb;
BEGIN
    FOR i IN 1 .. 5 LOOP
        t := array_append(t, duroxide.schedule_activity(ctx, 'sb_record', jsonb_build_object('n', i)));
    END LOOP;
    PERFORM duroxide.await_all(t);
    seen := duroxide.call_activity(ctx, 'sb_probe');
    RETURN jsonb_build_object('orchestration_search_path', current_setting('search_path'),
                              'orchestration_lock_timeout', current_setting('lock_timeout'),
                              'activity', seen);
END
$$;
SELECT duroxide.register_activity('sb_record', 'sb_app.record');
SELECT duroxide.register_activity('sb_probe', 'sb_app.probe');
SELECT duroxide.register_orchestration('sb_work', 'sb_app.orch');
RESET ROLE;

-- section: eight rounds, attacker first
DO $$
BEGIN
    FOR r IN 1 .. 8 LOOP
        EXECUTE format('SET ROLE sb_attacker');
        PERFORM duroxide.start_orchestration('sb-attack-' || r, 'sb_attack', jsonb_build_object('round', r));
        EXECUTE format('SET ROLE sb_victim');
        PERFORM duroxide.start_orchestration('sb-work-' || r, 'sb_work', jsonb_build_object('round', r));
        RESET ROLE;
    END LOOP;
END
$$;
SELECT s.instance_id, s.status
  FROM generate_series(1, 8) r,
       LATERAL (SELECT * FROM duroxide.wait_for_orchestration('sb-attack-' || r, 60000)) s
 WHERE s.status <> 'Completed';
SELECT s.instance_id, s.status, s.error
  FROM generate_series(1, 8) r,
       LATERAL (SELECT * FROM duroxide.wait_for_orchestration('sb-work-' || r, 60000)) s
 WHERE s.status <> 'Completed';

-- section: what the attacker's code was allowed to do (the same every round)
SELECT count(DISTINCT output) AS distinct_outcomes FROM duroxide.instances
 WHERE instance_id LIKE 'sb-attack-%';
SELECT key, value FROM duroxide.instances i, jsonb_each_text(i.output)
 WHERE i.instance_id = 'sb-attack-1' ORDER BY key;

-- section: the attacker gained nothing
SELECT rolsuper FROM pg_roles WHERE rolname = 'sb_attacker';
-- the shadows never ran with more than the attacker's rights
SELECT fn, usr, superuser, count(*) > 0 AS called FROM sb_evil.calls
 WHERE superuser OR usr <> 'sb_attacker' GROUP BY 1, 2, 3;
-- no advisory lock of the attacker survived its call
SELECT count(*) AS advisory_locks_left FROM pg_locks
 WHERE locktype = 'advisory' AND objid = 4242;

-- section: the victim's writes went to its ledger, and its code saw a clean
-- session every round (the settings the server starts a session with)
SELECT count(*) AS ledger_rows, count(DISTINCT instance) AS instances FROM sb_app.ledger;
SELECT count(*) AS rounds,
       count(*) FILTER (WHERE o->'activity'->>'search_path' = current_setting('search_path')
                          AND o->'activity'->>'statement_timeout' = current_setting('statement_timeout')
                          AND o->'activity'->>'lock_timeout' = current_setting('lock_timeout')
                          AND o->'activity'->>'work_mem' = current_setting('work_mem')
                          AND o->'activity'->>'current_user' = 'sb_victim'
                          AND o->'activity'->>'temp_tables' = '0'
                          AND o->'activity'->>'prepared' = '0'
                          AND o->'activity'->>'cursors' = '0'
                          AND o->'activity'->>'listening' = '0'
                          AND o->>'orchestration_search_path' = current_setting('search_path')
                          AND o->>'orchestration_lock_timeout' = current_setting('lock_timeout'))
           AS clean_rounds
  FROM (SELECT output AS o FROM duroxide.instances WHERE instance_id LIKE 'sb-work-%') w;

-- section: an owner's ALTER ROLE ... SET search_path is what its code sees
ALTER ROLE sb_victim SET search_path = sb_app, public;
SET ROLE sb_victim;
SELECT duroxide.start_orchestration('sb-work-role-path', 'sb_work');
RESET ROLE;
SELECT status, output->'activity'->>'search_path' AS activity_path,
       output->>'orchestration_search_path' AS orchestration_path
  FROM duroxide.wait_for_orchestration('sb-work-role-path', 60000);
ALTER ROLE sb_victim RESET search_path;

-- section: using another role's registration runs its code as that role:
-- like a SECURITY DEFINER function, it needs EXECUTE on the function
SET ROLE sb_victim;
CREATE FUNCTION sb_app.private(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"private"'::jsonb $$;
REVOKE ALL ON FUNCTION sb_app.private(duroxide.activity_context, jsonb) FROM PUBLIC;
SELECT duroxide.register_activity('sb_private', 'sb_app.private');
CREATE FUNCTION sb_app.private_orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'sb_private'); END $$;
REVOKE ALL ON FUNCTION sb_app.private_orch(duroxide.context, jsonb) FROM PUBLIC;
SELECT duroxide.register_orchestration('sb_private_orch', 'sb_app.private_orch');
SELECT duroxide.start_orchestration('sb-private-own', 'sb_private_orch');
SET ROLE sb_attacker;
CREATE FUNCTION sb_evil.use_private(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'sb_private'); END $$;
CREATE FUNCTION sb_evil.start_private(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_sub_orchestration(ctx, 'sb_private_orch'); END $$;
SELECT duroxide.register_orchestration('sb_use_private', 'sb_evil.use_private');
SELECT duroxide.register_orchestration('sb_start_private', 'sb_evil.start_private');
-- a start of the victim's orchestration: refused at once
SELECT duroxide.start_orchestration('sb-private-steal', 'sb_private_orch');
-- scheduling the victim's activity, starting it as a child: the turn fails
SELECT duroxide.start_orchestration('sb-private-use', 'sb_use_private');
SELECT duroxide.start_orchestration('sb-private-child', 'sb_start_private');
RESET ROLE;
SELECT i, s.status, s.output, s.error
  FROM unnest(ARRAY['sb-private-child', 'sb-private-own', 'sb-private-use']) i,
       LATERAL duroxide.wait_for_orchestration(i, 60000) s;
SELECT count(*) AS attacker_ran_private FROM duroxide.history h
 WHERE h.instance_id LIKE 'sb-private-%' AND h.instance_id <> 'sb-private-own'
   AND h.event_type IN ('ActivityScheduled', 'ActivityCompleted', 'SubOrchestrationScheduled');

-- section: EXECUTE is checked again at every call, so a REVOKE takes effect
-- for what is already registered and scheduled
SET ROLE sb_victim;
CREATE FUNCTION sb_app.lend(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"lent"'::jsonb $$;
REVOKE ALL ON FUNCTION sb_app.lend(duroxide.activity_context, jsonb) FROM PUBLIC;
GRANT USAGE ON SCHEMA sb_app TO sb_attacker;
GRANT EXECUTE ON FUNCTION sb_app.lend(duroxide.activity_context, jsonb) TO sb_attacker;
CREATE FUNCTION sb_app.use_lend(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'sb_lend'); END $$;
SELECT duroxide.register_orchestration('sb_use_lend', 'sb_app.use_lend');
SET ROLE sb_attacker;
CREATE FUNCTION sb_evil.borrow(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'sb_lend'); END $$;
SELECT duroxide.register_activity('sb_lend', 'sb_app.lend');
SELECT duroxide.register_orchestration('sb_borrow', 'sb_evil.borrow');
SELECT duroxide.start_orchestration('sb-borrow-1', 'sb_borrow');
RESET ROLE;
SELECT status, output FROM duroxide.wait_for_orchestration('sb-borrow-1', 60000);
SET ROLE sb_victim;
REVOKE EXECUTE ON FUNCTION sb_app.lend(duroxide.activity_context, jsonb) FROM sb_attacker;
-- the attacker's own registration now fails when it runs (as the attacker)
SET ROLE sb_attacker;
SELECT duroxide.start_orchestration('sb-borrow-2', 'sb_borrow');
RESET ROLE;
SELECT status, error FROM duroxide.wait_for_orchestration('sb-borrow-2', 60000);
-- the victim may schedule the attacker's registration (it owns the function),
-- but the attempt runs as the attacker, who lost EXECUTE: refused at the call
SET ROLE sb_victim;
SELECT duroxide.start_orchestration('sb-borrow-victim', 'sb_use_lend');
RESET ROLE;
SELECT status, error FROM duroxide.wait_for_orchestration('sb-borrow-victim', 60000);
-- an orchestration function whose owner lost EXECUTE after the start
SET ROLE sb_attacker;
BEGIN;
SELECT duroxide.start_orchestration('sb-borrow-3', 'sb_borrow');
REVOKE EXECUTE ON FUNCTION sb_evil.borrow(duroxide.context, jsonb) FROM PUBLIC, sb_attacker;
COMMIT;
RESET ROLE;
SELECT status, error FROM duroxide.wait_for_orchestration('sb-borrow-3', 60000);

-- section: clean up
SELECT count(*) AS deleted FROM (SELECT duroxide.delete_instance(instance_id) FROM duroxide.instances
  WHERE instance_id LIKE 'sb-%' AND parent_instance_id IS NULL) d;
SELECT count(*) AS unregistered FROM (
  SELECT duroxide.unregister_orchestration(n)
    FROM unnest(ARRAY['sb_attack', 'sb_work', 'sb_borrow', 'sb_use_lend', 'sb_private_orch', 'sb_use_private', 'sb_start_private']) n
  UNION ALL
  SELECT duroxide.unregister_activity(n) FROM unnest(ARRAY['sb_poison', 'sb_record', 'sb_probe', 'sb_lend', 'sb_private']) n) u;
DROP SCHEMA sb_evil CASCADE;
DROP SCHEMA sb_app CASCADE;
DROP ROLE sb_attacker;
DROP ROLE sb_victim;
