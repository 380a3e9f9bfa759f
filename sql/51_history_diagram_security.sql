-- 51_history_diagram_security: history_diagram reads as its caller.  A
-- duroxide_user sees the diagram of its own instances only (another role's
-- instance is as unknown to it as for get_history), an admin sees all, and
-- a role outside duroxide_user may not call it.
\set SHOW_CONTEXT never
CREATE ROLE dg51_alice LOGIN IN ROLE duroxide_user;
CREATE ROLE dg51_bob LOGIN IN ROLE duroxide_user;
CREATE ROLE dg51_admin LOGIN IN ROLE duroxide_admin;
CREATE ROLE dg51_nobody LOGIN;
CREATE SCHEMA dg51;
GRANT USAGE ON SCHEMA dg51 TO PUBLIC;

-- the SQLSTATE and message of an error, or 'no error'
CREATE FUNCTION dg51.err(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END
$$;
GRANT EXECUTE ON FUNCTION dg51.err(text) TO PUBLIC;

CREATE FUNCTION dg51.act(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
CREATE FUNCTION dg51.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'Dg51Secret', input); END $$;
ALTER FUNCTION dg51.act OWNER TO dg51_alice;
ALTER FUNCTION dg51.orch OWNER TO dg51_alice;

-- section: alice runs an instance and draws it
SET ROLE dg51_alice;
SELECT duroxide.register_activity('Dg51Secret', 'dg51.act');
SELECT duroxide.register_orchestration('Dg51Orch', 'dg51.orch');
SELECT duroxide.start_orchestration('dg51-alice', 'Dg51Orch', '{"secret": "alice''s"}');
SELECT status FROM duroxide.wait_for_orchestration('dg51-alice');
SELECT xml_is_well_formed_document(duroxide.history_diagram('dg51-alice')) AS alice_svg,
       duroxide.history_diagram('dg51-alice', 'mermaid') LIKE 'gantt%' AS alice_mermaid;
RESET ROLE;

-- section: bob cannot draw alice's instance: the same error as for an id
-- that does not exist, in both formats and for any execution, and
-- get_history shows him nothing either
SET ROLE dg51_bob;
SELECT count(*) AS history_rows_bob_sees FROM duroxide.get_history('dg51-alice');
SELECT dg51.err($$SELECT duroxide.history_diagram('dg51-alice')$$) AS bob_svg;
SELECT dg51.err($$SELECT duroxide.history_diagram('dg51-alice', 'mermaid')$$) AS bob_mermaid;
SELECT dg51.err($$SELECT duroxide.history_diagram('dg51-alice', 'svg', 1)$$) AS bob_execution_1;
SELECT dg51.err($$SELECT duroxide.history_diagram('dg51-alice')$$)
     = replace(dg51.err($$SELECT duroxide.history_diagram('dg51-nobody-has-this')$$),
               'dg51-nobody-has-this', 'dg51-alice') AS same_as_unknown;
-- his own search_path cannot redirect what it reads
CREATE TEMP TABLE history (instance_id text, execution_id integer, event_id bigint, event_type text,
                           source_event_id bigint, data jsonb, created_at timestamptz);
CREATE TEMP TABLE instances (instance_id text);
SET search_path = pg_temp, duroxide, public;
SELECT dg51.err($$SELECT duroxide.history_diagram('dg51-alice')$$) AS bob_with_shadow_tables;
RESET search_path;
DROP TABLE pg_temp.history, pg_temp.instances;
RESET ROLE;

-- section: an admin sees every instance
SET ROLE dg51_admin;
SELECT xml_is_well_formed_document(duroxide.history_diagram('dg51-alice')) AS admin_svg;
RESET ROLE;

-- section: a role outside duroxide_user may not call it (as it may not
-- read the history: get_history is refused too)
SET ROLE dg51_nobody;
SELECT dg51.err($$SELECT count(*) FROM duroxide.get_history('dg51-alice')$$) AS nobody_get_history;
SELECT dg51.err($$SELECT duroxide.history_diagram('dg51-alice')$$) AS nobody_diagram;
RESET ROLE;

-- section: cleanup
SELECT duroxide.delete_instance('dg51-alice');
SELECT duroxide.unregister_orchestration('Dg51Orch');
SELECT duroxide.unregister_activity('Dg51Secret');
DROP SCHEMA dg51 CASCADE;
DROP ROLE dg51_alice, dg51_bob, dg51_admin, dg51_nobody;
