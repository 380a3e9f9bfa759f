-- 50_history_diagram: duroxide.history_diagram(instance_id, format, execution_id)
-- draws an execution's history as SVG or as a Mermaid gantt chart.  Every
-- check reads the structure (xpath counts, attributes, task lines), never
-- the literal output, so that no result depends on timing.
\set SHOW_CONTEXT never
CREATE SCHEMA dg;

-- sleeps input.sleep_ms; fails attempts before input.fail_until, or always
-- with input.fail; returns input.value
CREATE FUNCTION dg.work(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(coalesce((input->>'sleep_ms')::int, 0) / 1000.0);
    IF input ? 'fail_until' AND ctx.attempt < (input->>'fail_until')::int THEN
        RAISE EXCEPTION 'attempt % of <%> failed & "logged"', ctx.attempt, ctx.activity_name;
    END IF;
    IF input ? 'fail' THEN
        RAISE EXCEPTION '%', input->>'fail';
    END IF;
    RETURN input->'value';
END
$$;
SELECT duroxide.register_activity('DgWork', 'dg.work');
-- a hostile activity name: markup, quotes, Mermaid's separators, a newline
SELECT duroxide.register_activity(E'Dg<script>&"\'; #:%%x\nsection evil', 'regress.echo');
SELECT duroxide.register_activity('DgEcho', 'regress.echo');

CREATE FUNCTION dg.child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'DgWork', '{"value": 1}'); END $$;
SELECT duroxide.register_orchestration('DgChild', 'dg.child');

-- one of everything: an activity, a retried one that succeeds on its third
-- attempt, one that fails both its attempts (caught), the hostile one, a
-- timer, an event wait and a sub-orchestration
CREATE FUNCTION dg.main(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DgWork', '{"value": "a", "sleep_ms": 20}');
    PERFORM duroxide.call_activity_with_retry(ctx, 'DgWork', '{"fail_until": 3}',
        '{"maxAttempts": 3, "backoff": "fixed", "initialDelayMs": 10}');
    BEGIN
        PERFORM duroxide.call_activity_with_retry(ctx, 'DgWork', '{"fail": "always <broken> & \"sad\""}',
            '{"maxAttempts": 2, "backoff": "fixed", "initialDelayMs": 10}');
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        NULL;
    END;
    PERFORM duroxide.call_activity(ctx, E'Dg<script>&"\'; #:%%x\nsection evil', '{}');
    PERFORM duroxide.sleep(ctx, 30);
    PERFORM duroxide.wait_for_event(ctx, E'go<&>;#:\n');
    RETURN duroxide.call_sub_orchestration(ctx, 'DgChild');
END
$$;
SELECT duroxide.register_orchestration('DgMain', 'dg.main', '1.2.0');

-- fans out input.n quick activities
CREATE FUNCTION dg.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1 .. (input->>'n')::int LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'DgEcho', to_jsonb(i));
    END LOOP;
    RETURN to_jsonb(jsonb_array_length(duroxide.await_all(tasks)));
END
$$;
SELECT duroxide.register_orchestration('DgFan', 'dg.fan');

-- the SVG namespace for xpath, and counting helpers
CREATE FUNCTION dg.svg_count(doc text, path text) RETURNS integer
LANGUAGE sql AS $$
    SELECT (xpath('count(' || path || ')', doc::xml,
                  ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))[1]::text::numeric::integer
$$;
-- (xpath returns text nodes with &, < and > escaped again: undone here)
CREATE FUNCTION dg.svg_text(doc text, path text) RETURNS text[]
LANGUAGE sql AS $$
    SELECT array_agg(replace(replace(replace(x::text, '&lt;', '<'), '&gt;', '>'), '&amp;', '&') ORDER BY n)
      FROM unnest(xpath(path, doc::xml, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))
           WITH ORDINALITY AS u(x, n)
$$;
-- the Mermaid task lines: "<text> :<tags>, <id>, <start ms>, <end ms>"
CREATE FUNCTION dg.mermaid_tasks(doc text) RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT l FROM regexp_split_to_table(doc, E'\n') AS l
     WHERE l ~ ':([a-z]+, )*[a-z][0-9]+, [0-9]+, [0-9]+$'
$$;
-- the SQLSTATE, message and hint of an error, or 'no error'
CREATE FUNCTION dg.err(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    hint text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END
$$;

-- section: the orchestration runs; while it waits for its event, the diagram
-- shows it Running with the event wait pending
SELECT duroxide.start_orchestration('dg-1', 'DgMain');
CALL regress.wait_for_event_type('dg-1', 'EventSubscribed');
CREATE TEMP TABLE d AS SELECT duroxide.history_diagram('dg-1') AS svg,
                              duroxide.history_diagram('dg-1', 'mermaid') AS mm;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       dg.svg_count(svg, '//s:g[@class="lane"]') AS lanes,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-outcome="pending"]') AS pending,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-outcome="pending"][@data-kind="event"]') AS pending_event,
       dg.svg_text(svg, '//s:*[@class="status"]/text()') AS status,
       dg.svg_count(svg, '//s:*[@class="now"]') AS now_marker
  FROM d;
SELECT count(*) AS tasks, count(*) FILTER (WHERE t ~ ':active, ') AS active
  FROM d, dg.mermaid_tasks(mm) t;
DROP TABLE d;

-- section: completed: one lane per activity, timer, event wait and child
SELECT duroxide.raise_event('dg-1', E'go<&>;#:\n', '{"ok": true}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('dg-1');
CREATE TEMP TABLE d AS SELECT duroxide.history_diagram('dg-1') AS svg,
                              duroxide.history_diagram('dg-1', 'mermaid') AS mm;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       dg.svg_count(svg, '//s:g[@class="lane"]') AS lanes,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-kind="activity"]') AS activities,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-kind="timer"]') AS timers,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-kind="event"]') AS events,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-kind="sub_orchestration"]') AS children,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-outcome="completed"]') AS completed,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-outcome="failed"]') AS failed,
       dg.svg_count(svg, '//s:*[@class="now"]') AS now_marker
  FROM d;
-- the header: instance, orchestration name and version, execution, status
SELECT dg.svg_text(svg, '//s:*[@class="status"]/text()') AS status,
       dg.svg_text(svg, '//s:*[@class="instance"]/text()') AS instance,
       dg.svg_text(svg, '//s:*[@class="orchestration"]/text()') AS orchestration,
       dg.svg_text(svg, '//s:*[@class="execution-id"]/text()') AS execution
  FROM d;
-- a standalone document: XML declaration, the SVG namespace, a viewBox and a size
SELECT svg LIKE '<?xml version="1.0" encoding="UTF-8"?>%' AS declaration,
       dg.svg_count(svg, '/s:svg[@viewBox][@width][@height]') AS sized_root,
       dg.svg_text(svg, '/s:svg/@height') = ARRAY[split_part((dg.svg_text(svg, '/s:svg/@viewBox'))[1], ' ', 4)]
           AS height_matches_viewbox
  FROM d;
-- attempts: one bar per attempt, in the lanes of the retried activities;
-- every lane has a bar and a tooltip
SELECT dg.svg_text(svg, '//s:g[@class="lane"]/@data-attempts') AS attempts_per_lane,
       dg.svg_count(svg, '//s:g[@class="lane"]/s:rect[@data-attempt]') AS attempt_bars,
       dg.svg_count(svg, '//s:g[@class="lane"]/s:rect[@data-attempt][contains(@class, "attempt-failed")]')
           AS failed_attempt_bars,
       dg.svg_count(svg, '//s:g[@class="lane"][not(s:rect[contains(@class, "bar")])]') AS lanes_without_bar,
       dg.svg_count(svg, '//s:g[@class="lane"][not(s:title)]') AS lanes_without_title,
       dg.svg_count(svg, '//s:rect[contains(@class, "bar")][@width < 2]') AS bars_narrower_than_2px
  FROM d;
-- a legend with the outcomes, a time axis with labelled ticks
SELECT dg.svg_text(svg, '//s:g[@class="legend"]//s:text/text()') AS legend,
       dg.svg_count(svg, '//s:g[@class="axis"]//s:text') >= 2 AS axis_labels,
       dg.svg_count(svg, '//s:g[@class="axis"]//s:line') >= 2 AS axis_ticks
  FROM d;
-- the hostile names: escaped, not dropped (the parsed label has the text back)
SELECT position('<script' IN svg) AS raw_script_tag,
       position('<&>' IN svg) AS raw_event_name,
       svg ~ '[^\x01-\x7e]' AS non_ascii_bytes,
       (SELECT count(*) FROM unnest(dg.svg_text(svg, '//s:g[@class="lane"]/s:title/text()')) t
         WHERE t LIKE E'%Dg<script>&"\'; #:\\%\\%x section evil%') AS hostile_title,
       (SELECT count(*) FROM unnest(dg.svg_text(svg, '//s:g[@class="lane"]/s:title/text()')) t
         WHERE t LIKE '%go<&>;#:%') AS hostile_event_title,
       (SELECT count(*) FROM unnest(dg.svg_text(svg, '//s:rect/s:title/text()')) t
         WHERE t LIKE '%always <broken> & "sad"%') AS error_in_tooltip
  FROM d;
-- Mermaid: a gantt chart, one section per lane kind, one task per lane with
-- its outcome's tag, nothing of the names that Mermaid would parse
SELECT split_part(mm, E'\n', 1) AS first_line,
       (SELECT count(*) FROM regexp_split_to_table(mm, E'\n') l WHERE l ~ '^\s*dateFormat x$') AS date_format,
       (SELECT count(*) FROM regexp_split_to_table(mm, E'\n') l WHERE l ~ '^\s*axisFormat ') AS axis_format,
       (SELECT string_agg(trim(l), ', ') FROM regexp_split_to_table(mm, E'\n') l WHERE l ~ '^\s*section ')
           AS sections
  FROM d;
SELECT count(*) AS tasks,
       count(*) FILTER (WHERE t ~ ':done, ') AS done,
       count(*) FILTER (WHERE t ~ ':crit, done, ') AS crit,
       count(*) FILTER (WHERE t ~ ':active, ') AS active,
       count(*) FILTER (WHERE t ~ '[<>&"#;%]') AS with_markup_or_separators,
       count(*) FILTER (WHERE length(t) - length(replace(t, ':', '')) <> 1) AS not_one_colon,
       count(*) FILTER (WHERE t ~ '^\s*section') AS task_read_as_section
  FROM d, dg.mermaid_tasks(mm) t;
SELECT count(*) AS lines_outside_the_grammar
  FROM d, regexp_split_to_table(mm, E'\n') l
 WHERE l !~ '^(gantt|    (title|dateFormat|axisFormat|todayMarker|section) .*|    [a-z_]+ [^:#;%]*:([a-z]+, )*[a-z][0-9]+, [0-9]+, [0-9]+|)$';
DROP TABLE d;

-- section: the format argument is case-insensitive
SELECT left(duroxide.history_diagram('dg-1', 'SVG'), 5) AS svg_upper,
       left(duroxide.history_diagram('dg-1', 'Mermaid'), 5) AS mermaid_mixed;

-- section: a hostile instance id in the header
SELECT duroxide.start_orchestration(E'dg-<b>&"\'x\n]]>', 'DgChild');
SELECT status FROM duroxide.wait_for_orchestration(E'dg-<b>&"\'x\n]]>');
SELECT xml_is_well_formed_document(duroxide.history_diagram(E'dg-<b>&"\'x\n]]>')) AS well_formed,
       dg.svg_text(duroxide.history_diagram(E'dg-<b>&"\'x\n]]>'), '//s:*[@class="instance"]/text()') AS instance,
       position(']]>' IN duroxide.history_diagram(E'dg-<b>&"\'x\n]]>')) AS raw_cdata_end,
       (SELECT count(*) FROM regexp_split_to_table(duroxide.history_diagram(E'dg-<b>&"\'x\n]]>', 'mermaid'), E'\n') l
         WHERE l ~ '^\s*title ' AND l !~ '[<>&"#;%\n]') AS clean_title;

-- section: 100 lanes: a fan-out of 100 activities, one fixed-height lane each
SELECT duroxide.start_orchestration('dg-fan', 'DgFan', '{"n": 100}');
SELECT status, output FROM duroxide.wait_for_orchestration('dg-fan');
CREATE TEMP TABLE d AS SELECT duroxide.history_diagram('dg-fan') AS svg,
                              duroxide.history_diagram('dg-fan', 'mermaid') AS mm;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       dg.svg_count(svg, '//s:g[@class="lane"]') AS lanes,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-outcome="completed"]') AS completed,
       (SELECT count(DISTINCT y) FROM unnest(dg.svg_text(svg, '//s:g[@class="lane"]/s:text[@class="label"]/@y')) y)
           AS distinct_rows,
       (SELECT count(DISTINCT d2) FROM (
            SELECT y::numeric - lag(y::numeric) OVER (ORDER BY y::numeric) AS d2
              FROM unnest(dg.svg_text(svg, '//s:g[@class="lane"]/s:text[@class="label"]/@y')) y) s
         WHERE d2 IS NOT NULL) AS distinct_lane_heights,
       (dg.svg_text(svg, '/s:svg/@height'))[1]::numeric > 100 * 16 AS tall_enough
  FROM d;
SELECT count(*) AS tasks FROM d, dg.mermaid_tasks(mm);
DROP TABLE d;

-- section: long names are truncated in the label, whole in the tooltip
SELECT duroxide.register_activity(repeat('LongActivityName', 12), 'regress.echo');
CREATE FUNCTION dg.long(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, repeat('LongActivityName', 12), '1'); END $$;
SELECT duroxide.register_orchestration('DgLong', 'dg.long');
SELECT duroxide.start_orchestration('dg-long', 'DgLong');
SELECT status FROM duroxide.wait_for_orchestration('dg-long');
SELECT length(l) < 60 AS label_short, l LIKE '%…' AS label_ellipsis,
       position(repeat('LongActivityName', 12) IN t) > 0 AS tooltip_whole
  FROM (SELECT (dg.svg_text(svg, '//s:g[@class="lane"]/s:text[@class="label"]/text()'))[1] AS l,
               (dg.svg_text(svg, '//s:g[@class="lane"]/s:title/text()'))[1] AS t
          FROM (SELECT duroxide.history_diagram('dg-long') AS svg) s) s2;

-- section: names beyond ASCII are character references and parse back whole
SELECT duroxide.register_activity('DgÜnïcødé ✓ 😀', 'regress.echo');
CREATE FUNCTION dg.unicode(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'DgÜnïcødé ✓ 😀', '1'); END $$;
SELECT duroxide.register_orchestration('DgUnicode', 'dg.unicode');
SELECT duroxide.start_orchestration('dg-ünï', 'DgUnicode');
SELECT status FROM duroxide.wait_for_orchestration('dg-ünï');
SELECT svg ~ '[^\x01-\x7e]' AS non_ascii_bytes,
       position('&#x1F600;' IN svg) > 0 AS emoji_reference,
       dg.svg_text(svg, '//s:g[@class="lane"]/s:text[@class="label"]/text()') AS label,
       dg.svg_text(svg, '//s:*[@class="instance"]/text()') AS instance,
       (SELECT trim(split_part(t, ':', 1)) FROM dg.mermaid_tasks(duroxide.history_diagram('dg-ünï', 'mermaid')) t) AS mermaid_task
  FROM (SELECT duroxide.history_diagram('dg-ünï') AS svg) s;

-- section: an execution without any task: no lane, still a document
CREATE FUNCTION dg.nothing(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"nothing"'::jsonb $$;
SELECT duroxide.register_orchestration('DgNothing', 'dg.nothing');
SELECT duroxide.start_orchestration('dg-empty', 'DgNothing');
SELECT status FROM duroxide.wait_for_orchestration('dg-empty');
SELECT xml_is_well_formed_document(svg) AS well_formed,
       dg.svg_count(svg, '//s:g[@class="lane"]') AS lanes,
       dg.svg_count(svg, '//s:*[@class="empty"]') AS empty_note,
       (SELECT count(*) FROM dg.mermaid_tasks(duroxide.history_diagram('dg-empty', 'mermaid'))) AS tasks
  FROM (SELECT duroxide.history_diagram('dg-empty') AS svg) s;

-- section: execution_id picks an earlier execution (continue_as_new)
CREATE FUNCTION dg.again(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'DgEcho', input);
    IF (input->>'left')::int > 0 THEN
        PERFORM duroxide.continue_as_new(ctx, jsonb_build_object('left', (input->>'left')::int - 1));
    END IF;
    PERFORM duroxide.sleep(ctx, 1);
    RETURN input;
END
$$;
SELECT duroxide.register_orchestration('DgAgain', 'dg.again');
SELECT duroxide.start_orchestration('dg-again', 'DgAgain', '{"left": 1}');
SELECT status, execution_id FROM duroxide.wait_for_orchestration('dg-again');
SELECT e AS execution,
       dg.svg_text(svg, '//s:*[@class="status"]/text()') AS status,
       dg.svg_text(svg, '//s:*[@class="execution-id"]/text()') AS shown,
       dg.svg_count(svg, '//s:g[@class="lane"]') AS lanes
  FROM (SELECT e, duroxide.history_diagram('dg-again', 'svg', e) AS svg
          FROM unnest(ARRAY[1, 2]) e) s ORDER BY e;
SELECT dg.svg_text(duroxide.history_diagram('dg-again'), '//s:*[@class="execution-id"]/text()') AS default_execution;

-- section: synthetic histories with fixed times (written by the superuser;
-- no message is queued, so no worker touches them): exact geometry
CREATE FUNCTION dg.synthetic(p_id text, p_status text, p_events jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO duroxide.instances (instance_id, orchestration_name, orchestration_version, status,
                                    created_at, completed_at)
    VALUES (p_id, 'DgSynthetic', '1.0.0', p_status, '2026-01-01 00:00:00+00',
            CASE WHEN p_status <> 'Running' THEN
                 '2026-01-01 00:00:00+00'::timestamptz
                 + ((p_events -> -1 ->> 'ms')::bigint * interval '1 millisecond') END);
    INSERT INTO duroxide.history (instance_id, execution_id, event_id, event_type, source_event_id,
                                  data, created_at)
    SELECT p_id, 1, n, e->>'type', (e->>'src')::bigint, e->'data',
           '2026-01-01 00:00:00+00'::timestamptz + ((e->>'ms')::bigint * interval '1 millisecond')
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, n);
$$;
-- each lane: kind, outcome, and its bars' x and width
CREATE FUNCTION dg.geometry(doc text)
RETURNS TABLE (lane integer, kind text, outcome text, x text[], width text[])
LANGUAGE sql AS $$
    SELECT i, (dg.svg_text(doc, format('//s:g[@class="lane"][%s]/@data-kind', i)))[1],
           (dg.svg_text(doc, format('//s:g[@class="lane"][%s]/@data-outcome', i)))[1],
           dg.svg_text(doc, format('//s:g[@class="lane"][%s]/s:rect[contains(@class, "bar")]/@x', i)),
           dg.svg_text(doc, format('//s:g[@class="lane"][%s]/s:rect[contains(@class, "bar")]/@width', i))
      FROM generate_series(1, dg.svg_count(doc, '//s:g[@class="lane"]')) i
$$;
-- 400 ms: an activity; two waits for "x" that take the first and the second
-- "x" in order; a timer that never fired (cancelled at the end)
SELECT dg.synthetic('dg-syn-1', 'Completed', '[
    {"type": "OrchestrationStarted", "ms": 0, "data": {"name": "DgSynthetic", "version": "1.0.0"}},
    {"type": "ActivityScheduled", "ms": 0, "data": {"name": "A"}},
    {"type": "EventSubscribed", "ms": 0, "data": {"name": "x"}},
    {"type": "EventSubscribed", "ms": 10, "data": {"name": "x"}},
    {"type": "EventRaised", "ms": 100, "data": {"name": "x", "data": 1}},
    {"type": "ActivityCompleted", "ms": 250, "src": 2, "data": {"result": 1, "attempt": 1}},
    {"type": "TimerCreated", "ms": 250, "data": {"delay_ms": 1000}},
    {"type": "EventRaised", "ms": 300, "data": {"name": "x", "data": 2}},
    {"type": "OrchestrationCompleted", "ms": 400, "data": {"output": null}}]');
SELECT * FROM dg.geometry(duroxide.history_diagram('dg-syn-1'));
SELECT dg.svg_text(svg, '(//s:g[@class="axis"])[1]/s:text/text()') AS ticks,
       dg.svg_text(svg, '//s:g[@class="execution"]/s:rect/@width') AS execution_width,
       dg.svg_text(svg, '//s:*[@class="meta"]/text()') AS meta
  FROM (SELECT duroxide.history_diagram('dg-syn-1') AS svg) s;
SELECT regexp_replace(t, '.*:', '') AS mermaid_task_data
  FROM dg.mermaid_tasks(duroxide.history_diagram('dg-syn-1', 'mermaid')) t;
SELECT l AS mermaid_axis FROM regexp_split_to_table(duroxide.history_diagram('dg-syn-1', 'mermaid'), E'\n') l
 WHERE l ~ 'axisFormat';

-- an event that arrived before its wait: a zero-length bar (2 px) at the wait
SELECT dg.synthetic('dg-syn-2', 'Completed', '[
    {"type": "OrchestrationStarted", "ms": 0},
    {"type": "EventRaised", "ms": 5, "data": {"name": "y"}},
    {"type": "EventSubscribed", "ms": 50, "data": {"name": "y"}},
    {"type": "OrchestrationCompleted", "ms": 100}]');
SELECT g.*, (SELECT count(*) FROM unnest(dg.svg_text(svg, '//s:g[@class="lane"]/s:title/text()')) t
              WHERE t LIKE '%arrived before the wait began%') AS says_early
  FROM (SELECT duroxide.history_diagram('dg-syn-2') AS svg) s, dg.geometry(svg) g;

-- three minutes: a retried activity (its backoff drawn between attempts),
-- ticks in minutes
SELECT dg.synthetic('dg-syn-3', 'Failed', '[
    {"type": "OrchestrationStarted", "ms": 0},
    {"type": "ActivityScheduled", "ms": 0, "data": {"name": "Slow"}},
    {"type": "ActivityAttemptFailed", "ms": 60000, "src": 2,
     "data": {"error": "first", "attempt": 1, "retry_delay_ms": 30000}},
    {"type": "ActivityFailed", "ms": 180000, "src": 2, "data": {"error": "second", "attempt": 2}},
    {"type": "OrchestrationFailed", "ms": 180000, "data": {"error": "second"}}]');
SELECT * FROM dg.geometry(duroxide.history_diagram('dg-syn-3'));
SELECT dg.svg_text(svg, '(//s:g[@class="axis"])[1]/s:text/text()') AS ticks,
       dg.svg_text(svg, '//s:line[@class="backoff"]/@x1') AS backoff_from,
       dg.svg_text(svg, '//s:line[@class="backoff"]/@x2') AS backoff_to,
       dg.svg_text(svg, '//s:*[@class="status"]/text()') AS status
  FROM (SELECT duroxide.history_diagram('dg-syn-3') AS svg) s;

-- running: what has no completion is pending, drawn to now
SELECT dg.synthetic('dg-syn-4', 'Running', '[
    {"type": "OrchestrationStarted", "ms": 0},
    {"type": "ActivityScheduled", "ms": 0, "data": {"name": "Done"}},
    {"type": "ActivityCompleted", "ms": 10, "src": 2, "data": {"attempt": 1}},
    {"type": "SubOrchestrationScheduled", "ms": 10, "data": {"name": "Kid", "instance_id": "dg-syn-4-kid"}}]');
SELECT kind, outcome, x, (width[1]::numeric + x[1]::numeric) AS right_edge
  FROM dg.geometry(duroxide.history_diagram('dg-syn-4'));
SELECT dg.svg_count(svg, '//s:*[@class="now"]') AS now_marker,
       (dg.svg_text(svg, '//s:line[@class="now"]/@x1'))[1] AS now_x
  FROM (SELECT duroxide.history_diagram('dg-syn-4') AS svg) s;
-- more than 5,000 tasks: the first 5,000 are drawn, the rest counted
SELECT dg.synthetic('dg-syn-5', 'Completed',
    jsonb_build_array(jsonb_build_object('type', 'OrchestrationStarted', 'ms', 0))
    || (SELECT jsonb_agg(jsonb_build_object('type', 'ActivityScheduled', 'ms', i,
                                            'data', jsonb_build_object('name', 'A' || i)) ORDER BY i)
          FROM generate_series(1, 5002) i)
    || jsonb_build_array(jsonb_build_object('type', 'OrchestrationCompleted', 'ms', 6000)));
SELECT xml_is_well_formed_document(svg) AS well_formed,
       dg.svg_count(svg, '//s:g[@class="lane"]') AS lanes,
       dg.svg_count(svg, '//s:g[@class="lane"][@data-outcome="cancelled"]') AS cancelled,
       dg.svg_text(svg, '//s:*[@class="more"]/text()') AS note,
       (SELECT count(*) FROM dg.mermaid_tasks(duroxide.history_diagram('dg-syn-5', 'mermaid'))) AS mermaid_tasks,
       (SELECT l FROM regexp_split_to_table(duroxide.history_diagram('dg-syn-5', 'mermaid'), E'\n') l
         WHERE l ~ '^    %%') AS mermaid_note
  FROM (SELECT duroxide.history_diagram('dg-syn-5') AS svg) s;
DELETE FROM duroxide.history WHERE instance_id LIKE 'dg-syn-%';
DELETE FROM duroxide.instances WHERE instance_id LIKE 'dg-syn-%';

-- section: errors
SELECT dg.err($$SELECT duroxide.history_diagram('dg-nope')$$) AS unknown_instance;
SELECT dg.err($$SELECT duroxide.history_diagram('dg-again', 'svg', 3)$$) AS unknown_execution;
SELECT dg.err($$SELECT duroxide.history_diagram('dg-again', 'svg', 0)$$) AS execution_zero;
SELECT dg.err($$SELECT duroxide.history_diagram('dg-1', 'png')$$) AS bad_format;
SELECT dg.err($$SELECT duroxide.history_diagram('dg-1', NULL)$$) AS null_format;
SELECT dg.err($$SELECT duroxide.history_diagram(NULL)$$) AS null_instance;
SELECT dg.err($$SELECT duroxide.history_diagram('')$$) AS empty_instance;

-- section: who may call it
SELECT p.proname, p.provolatile,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       has_function_privilege('duroxide_user', p.oid, 'EXECUTE') AS duroxide_user_may_execute
  FROM pg_proc p WHERE p.proname = 'history_diagram'
   AND p.pronamespace = 'duroxide'::regnamespace;
