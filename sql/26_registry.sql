-- 26_registry: how registrations are stored and looked up.  No reg* column
-- that pg_upgrade refuses; a function's identity is text that names one
-- overload and means the same under pg_dump's empty search_path; the
-- lookup cache never confuses an activity with an orchestration's version;
-- a cached function is dropped from the cache when pg_proc changes.
\set SHOW_CONTEXT never
CREATE SCHEMA reg26;
CREATE SCHEMA "Reg 26 ""odd""";

-- section: no column of schema duroxide has a type that pg_upgrade refuses
-- (reg* other than regclass, regrole, regtype; their arrays and domains too)
SELECT c.relname, a.attname, a.atttypid::regtype AS type
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
  LEFT JOIN pg_type b ON b.oid = t.typbasetype AND t.typtype = 'd'
 WHERE c.relnamespace = 'duroxide'::regnamespace AND c.relkind IN ('r', 'p', 'm')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND coalesce(e.oid, b.oid, t.oid) IN ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                                         'regoperator'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                                         'regnamespace'::regtype, 'regcollation'::regtype);
-- the function columns are text, at their old positions
SELECT c.relname, a.attnum, a.attname, a.atttypid::regtype AS type
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.oid IN ('duroxide.orchestrations'::regclass, 'duroxide.activities'::regclass) AND a.attname = 'fn'
 ORDER BY 1;

-- section: overloaded names: each registration keeps its own overload
CREATE FUNCTION reg26.ov(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('orchestration', 'ov(context)',
                              'activity', duroxide.call_activity(ctx, 'Reg26Ov', input));
END $$;
CREATE FUNCTION reg26.ov(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('ov(activity_context)', input) $$;
CREATE FUNCTION reg26.ov(input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
-- a bare name is ambiguous: PostgreSQL's own error
SELECT duroxide.register_orchestration('Reg26Ov', 'reg26.ov');
-- regprocedure names the overload (regproc is what the API takes)
SELECT duroxide.register_orchestration('Reg26Ov', 'reg26.ov(duroxide.context, jsonb)'::regprocedure);
SELECT duroxide.register_activity('Reg26Ov', 'reg26.ov(duroxide.activity_context, jsonb)'::regprocedure);
SELECT fn FROM duroxide.orchestrations WHERE name = 'Reg26Ov';
SELECT fn FROM duroxide.activities WHERE name = 'Reg26Ov';
SELECT duroxide.start_orchestration('reg26-ov', 'Reg26Ov', '"in"');
SELECT status, output FROM duroxide.wait_for_orchestration('reg26-ov', 10000);

-- section: quoted names and procedures
CREATE FUNCTION "Reg 26 ""odd"""."Orch ""Q"""(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'Reg26Proc', input); END $$;
CREATE PROCEDURE "Reg 26 ""odd"""."Proc ""P"""(ctx duroxide.activity_context, INOUT result jsonb)
LANGUAGE plpgsql AS $$ BEGIN result := jsonb_build_object('proc', result); END $$;
SELECT duroxide.register_orchestration('Reg26Quoted', '"Reg 26 ""odd"""."Orch ""Q"""');
SELECT duroxide.register_activity('Reg26Proc', '"Reg 26 ""odd"""."Proc ""P"""');
SELECT fn, is_procedure FROM duroxide.activities WHERE name = 'Reg26Proc';
SELECT duroxide.start_orchestration('reg26-quoted', 'Reg26Quoted', '"q"');
SELECT status, output FROM duroxide.wait_for_orchestration('reg26-quoted', 10000);

-- section: the stored identity is what pg_dump writes and restore reads
-- back: under pg_dump's empty search_path it names the same function, and
-- it is PostgreSQL's own identity of that function
SET search_path = '';
SELECT r.kind, r.name, r.fn::pg_catalog.regprocedure::pg_catalog.oid = p.oid AS same_function,
       r.fn = (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0)).identity
           AS is_identity
  FROM (SELECT 'orchestration' AS kind, o.name, o.fn FROM duroxide.orchestrations o
        UNION ALL SELECT 'activity', a.name, a.fn FROM duroxide.activities a) r
  JOIN pg_catalog.pg_proc p ON p.oid = r.fn::pg_catalog.regprocedure
 WHERE r.name OPERATOR(pg_catalog.~~) 'Reg26%'
 ORDER BY 1, 2;
-- the old regproc form could not be restored: it names three functions
SELECT 'reg26.ov'::pg_catalog.regproc;
RESET search_path;

-- section: the cache key has a kind.  An activity "lFoo" and the latest
-- version of orchestration "Foo" used to share a key (and a half-filled
-- entry).
CREATE FUNCTION reg26.act(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('activity', ctx.activity_name, 'input', input) $$;
CREATE FUNCTION reg26.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('Reg26Foo', 'reg26.orch', '2.0.0');
SELECT duroxide.register_activity('lReg26Foo', 'reg26.act');
SELECT duroxide.register_orchestration('Reg26Bar', 'reg26.orch', '3.0.0');
SELECT duroxide.register_activity('lReg26Bar', 'reg26.act');

-- run one activity attempt in this session: a queued attempt that only this
-- transaction sees, run by duroxide._activity_batch, its recorded result read
-- back, everything rolled back
CREATE PROCEDURE reg26.run_here(p_activity text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    INSERT INTO duroxide.worker_queue (instance_id, execution_id, activity_id, activity_name, input,
                                       orchestration_name, orchestration_version)
    VALUES ('reg26-probe', 1, 1, p_activity, '"probe"', 'Reg26Probe', '1.0.0');
    PERFORM duroxide._activity_batch(0);
    SELECT q.kind, q.data->'result' AS result, q.data->>'error' AS error INTO r
      FROM duroxide.orchestrator_queue q WHERE q.instance_id = 'reg26-probe';
    RAISE NOTICE 'activity %: % result % error %', p_activity, r.kind, r.result, r.error;
    RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0004';
EXCEPTION WHEN assert_failure THEN
    NULL;
END $$;

-- the latest version of Reg26Foo first, then activity lReg26Foo
SELECT duroxide._resolve_version('Reg26Foo', NULL);
CALL reg26.run_here('lReg26Foo');
-- activity lReg26Bar first, then the latest version of Reg26Bar
CALL reg26.run_here('lReg26Bar');
SELECT duroxide._resolve_version('Reg26Bar', NULL);
-- and everything again, now from the cache
SELECT duroxide._resolve_version('Reg26Foo', NULL), duroxide._resolve_version('Reg26Bar', NULL);
CALL reg26.run_here('lReg26Foo');
CALL reg26.run_here('lReg26Bar');
SELECT count(*) AS probe_rows_left FROM duroxide.worker_queue WHERE instance_id = 'reg26-probe';

-- section: a cached function is forgotten when pg_proc changes.  This
-- session resolved reg26.act above; renamed, it is not run by its old OID
CALL reg26.run_here('lReg26Foo');
ALTER FUNCTION reg26.act(duroxide.activity_context, jsonb) RENAME TO act_renamed;
CALL reg26.run_here('lReg26Foo');
ALTER FUNCTION reg26.act_renamed(duroxide.activity_context, jsonb) RENAME TO act;
CALL reg26.run_here('lReg26Foo');
-- dropped (with the check disabled) and created again: the new function runs
ALTER EVENT TRIGGER duroxide_registered_drop DISABLE;
DROP FUNCTION reg26.act(duroxide.activity_context, jsonb);
ALTER EVENT TRIGGER duroxide_registered_drop ENABLE;
CALL reg26.run_here('lReg26Foo');
CREATE FUNCTION reg26.act(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('recreated', input) $$;
CALL reg26.run_here('lReg26Foo');
-- re-created as a procedure with the same arguments: not run as a function
ALTER EVENT TRIGGER duroxide_registered_drop DISABLE;
DROP FUNCTION reg26.act(duroxide.activity_context, jsonb);
ALTER EVENT TRIGGER duroxide_registered_drop ENABLE;
CREATE PROCEDURE reg26.act(ctx duroxide.activity_context, INOUT input jsonb)
LANGUAGE plpgsql AS $$ BEGIN input := '"procedure"'; END $$;
CALL reg26.run_here('lReg26Foo');

-- section: a temporary function cannot be registered (it dies with the session)
CREATE FUNCTION pg_temp.tmp_orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('Reg26Temp', 'pg_temp.tmp_orch');
-- nor an OID that is no function
SELECT duroxide.register_orchestration('Reg26NoOid', 4294967295::oid::regproc);

-- section: clean up
SET client_min_messages = warning;
SELECT duroxide.unregister_orchestration(name) FROM duroxide.orchestrations
 WHERE name LIKE 'Reg26%' GROUP BY name ORDER BY name;
SELECT duroxide.unregister_activity(name) FROM duroxide.activities
 WHERE name LIKE 'Reg26%' OR name LIKE 'lReg26%' ORDER BY name;
DROP SCHEMA reg26 CASCADE;
DROP SCHEMA "Reg 26 ""odd""" CASCADE;
RESET client_min_messages;
