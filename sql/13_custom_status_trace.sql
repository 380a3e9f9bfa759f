-- 13_custom_status_trace: set_custom_status, trace_* from orchestrations and
-- activities, and durable functions called outside an orchestration.
\set SHOW_CONTEXT never
CREATE SCHEMA cst;

-- the server log of the temporary instance (pg_regress writes it to
-- log/postmaster.log in its output directory, next to the temp instance)
CREATE FUNCTION cst.server_log() RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(
        pg_read_file(current_setting('data_directory') || '/../../log/postmaster.log', 0, 1000000000, true),
        pg_read_file(current_setting('data_directory') || '/../log/postmaster.log', 0, 1000000000, true))
$$;

CREATE FUNCTION cst.steps(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a jsonb;
    b jsonb;
BEGIN
    PERFORM duroxide.set_custom_status(ctx, '{"step": 1, "state": "waiting for a"}');
    a := duroxide.wait_for_event(ctx, 'a');
    PERFORM duroxide.set_custom_status(ctx, jsonb_build_object('step', 2, 'state', 'waiting for b', 'a', a));
    b := duroxide.wait_for_event(ctx, 'b');
    IF b = '"clear"' THEN
        PERFORM duroxide.set_custom_status(ctx, NULL);
    ELSE
        PERFORM duroxide.set_custom_status(ctx, '{"step": 3, "state": "done"}');
    END IF;
    RETURN jsonb_build_array(a, b);
END
$$;
SELECT duroxide.register_orchestration('CstSteps', 'cst.steps');

-- section: custom status is visible after the turn, while the instance waits
SELECT duroxide.start_orchestration('cst-1', 'CstSteps');
CALL regress.wait_for_status('cst-1', '{"step": 1, "state": "waiting for a"}');
SELECT status, custom_status FROM duroxide.get_orchestration_status('cst-1');
SELECT duroxide.raise_event('cst-1', 'a', '"A"');
CALL regress.wait_for_status('cst-1', '{"step": 2, "state": "waiting for b", "a": "A"}');
SELECT status, custom_status FROM duroxide.get_orchestration_status('cst-1');
SELECT duroxide.raise_event('cst-1', 'b', '"B"');
-- the last value stays after completion
SELECT status, custom_status, output FROM duroxide.wait_for_orchestration('cst-1');

-- section: custom status can be cleared with NULL
SELECT duroxide.start_orchestration('cst-2', 'CstSteps');
SELECT duroxide.raise_event('cst-2', 'a', '1');
SELECT duroxide.raise_event('cst-2', 'b', '"clear"');
SELECT status, custom_status IS NULL AS cleared FROM duroxide.wait_for_orchestration('cst-2');

-- section: an instance that never sets it has none
CREATE FUNCTION cst.echo(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.trace_info(ctx, 'cst-marker activity info ' || (input#>>'{}'));
    PERFORM duroxide.trace_warn(ctx, 'cst-marker activity warn ' || (input#>>'{}'));
    PERFORM duroxide.trace_error(ctx, 'cst-marker activity error ' || (input#>>'{}'));
    PERFORM duroxide.trace_debug(ctx, 'cst-marker activity debug ' || (input#>>'{}'));
    RETURN input;
END
$$;
SELECT duroxide.register_activity('CstEcho', 'cst.echo');
CREATE FUNCTION cst.plain(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'CstEcho', '"plain"'); END $$;
SELECT duroxide.register_orchestration('CstPlain', 'cst.plain');
SELECT duroxide.start_orchestration('cst-3', 'CstPlain');
SELECT status, output, custom_status FROM duroxide.wait_for_orchestration('cst-3');

-- section: trace calls from orchestrations and activities
CREATE FUNCTION cst.traced(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := '[]';
BEGIN
    PERFORM duroxide.trace_info(ctx, 'cst-marker orch info start');
    PERFORM duroxide.trace_debug(ctx, 'cst-marker orch debug start');
    r := r || duroxide.call_activity(ctx, 'CstEcho', '"one"');
    PERFORM duroxide.trace_warn(ctx, 'cst-marker orch warn middle');
    r := r || duroxide.call_activity(ctx, 'CstEcho', '"two"');
    PERFORM duroxide.trace_error(ctx, 'cst-marker orch error end');
    PERFORM duroxide.trace_info(ctx, NULL);
    RETURN r;
END
$$;
SELECT duroxide.register_orchestration('CstTraced', 'cst.traced');
SELECT duroxide.start_orchestration('cst-4', 'CstTraced');
SELECT status, output, error FROM duroxide.wait_for_orchestration('cst-4');
-- each orchestration line was written once, although the code ran in three
-- turns; debug lines are below the default duroxide.log_level (info)
SELECT m[1] AS level, m[2] AS line, count(*)
  FROM regexp_split_to_table(cst.server_log(), E'\n') AS l,
       regexp_match(l, 'duroxide \[(\w+)\] instance=cst-4 execution=1 orchestration=CstTraced: (cst-marker.*)$') AS m
 WHERE m IS NOT NULL
 GROUP BY 1, 2 ORDER BY 2;
SELECT m[1] AS level, m[2] AS activity, m[3] AS instance, m[4] AS line, count(*)
  FROM regexp_split_to_table(cst.server_log(), E'\n') AS l,
       regexp_match(l, 'duroxide \[(\w+)\] activity=(\w+) activity_id=\d+ instance=(cst-4) worker=\S+: (cst-marker.*)$') AS m
 WHERE m IS NOT NULL
 GROUP BY 1, 2, 3, 4 ORDER BY 4;

-- section: durable functions outside an orchestration are refused
SELECT duroxide.schedule_activity(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, 'CstEcho', '{}');
SELECT duroxide.call_activity(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, 'CstEcho', '{}');
SELECT duroxide.schedule_timer(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, 10);
SELECT duroxide.wait_for_event(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, 'e');
SELECT duroxide.utc_now(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context);
SELECT duroxide.new_guid(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context);
SELECT duroxide.is_replaying(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context);
SELECT duroxide.set_custom_status(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, '{}');
SELECT duroxide.trace_info(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, 'hi');
SELECT duroxide.continue_as_new(ROW('x', 1, 'n', '1.0.0', NULL)::duroxide.context, '{}');
SELECT duroxide.await(ROW('x', 1, 2, 'activity')::duroxide.task);
SELECT duroxide.await_all(ARRAY[ROW('x', 1, 2, 'activity')::duroxide.task]);
SELECT duroxide.await_any(ARRAY[ROW('x', 1, 2, 'activity')::duroxide.task]);

-- section: a context that belongs to another instance is refused inside an orchestration
CREATE FUNCTION cst.foreign_ctx(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    other duroxide.context := ctx;
BEGIN
    other.instance_id := 'someone-else';
    RETURN duroxide.call_activity(other, 'CstEcho', '"x"');
END
$$;
SELECT duroxide.register_orchestration('CstForeignCtx', 'cst.foreign_ctx');
SELECT duroxide.start_orchestration('cst-5', 'CstForeignCtx');
SELECT status, error FROM duroxide.wait_for_orchestration('cst-5');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
