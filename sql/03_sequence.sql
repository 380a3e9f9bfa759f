-- 03_sequence: a chain of activities, Extract -> Transform -> Load, each
-- fed with the previous result.
\set SHOW_CONTEXT never
CREATE SCHEMA seq;
CREATE TABLE seq.loaded (instance_id text, activity_id bigint, item jsonb);

CREATE FUNCTION seq.extract(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('rows', jsonb_build_array(input->'n', (input->>'n')::int + 1,
                                                        (input->>'n')::int + 2));
END
$$;

CREATE FUNCTION seq.transform(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT jsonb_agg((x::text)::int * 10 ORDER BY ord)
              FROM jsonb_array_elements(input->'rows') WITH ORDINALITY AS e(x, ord));
END
$$;

CREATE FUNCTION seq.load(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seq.loaded SELECT ctx.instance_id, ctx.activity_id, x
      FROM jsonb_array_elements(input) AS x;
    RETURN jsonb_build_object('loaded', jsonb_array_length(input),
                              'activity', ctx.activity_name, 'attempt', ctx.attempt,
                              'orchestration', ctx.orchestration_name,
                              'version', ctx.orchestration_version,
                              'execution', ctx.execution_id,
                              'worker_id_set', ctx.worker_id IS NOT NULL AND ctx.worker_id <> '');
END
$$;

CREATE FUNCTION seq.etl(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    extracted jsonb;
    transformed jsonb;
    loaded jsonb;
BEGIN
    extracted := duroxide.call_activity(ctx, 'SeqExtract', input);
    transformed := duroxide.call_activity(ctx, 'SeqTransform', extracted);
    loaded := duroxide.call_activity(ctx, 'SeqLoad', transformed);
    RETURN jsonb_build_object('extracted', extracted, 'transformed', transformed, 'loaded', loaded);
END
$$;

SELECT duroxide.register_activity('SeqExtract', 'seq.extract');
SELECT duroxide.register_activity('SeqTransform', 'seq.transform');
SELECT duroxide.register_activity('SeqLoad', 'seq.load');
SELECT duroxide.register_orchestration('SeqEtl', 'seq.etl');

-- section: run the chain
SELECT duroxide.start_orchestration('seq-1', 'SeqEtl', '{"n": 1}');
SELECT status, error FROM duroxide.wait_for_orchestration('seq-1');
SELECT jsonb_pretty(output) FROM duroxide.get_orchestration_status('seq-1');

-- section: each step was scheduled only after the previous one completed
SELECT event_id, event_type, source_event_id, data->>'name' AS name, data->'input' AS input
  FROM duroxide.get_history('seq-1');

-- section: the load activity's writes committed once, tagged with its activity id
SELECT l.item, l.activity_id = h.event_id AS activity_id_matches
  FROM seq.loaded l
  JOIN duroxide.get_history('seq-1') h ON h.event_type = 'ActivityScheduled' AND h.data->>'name' = 'SeqLoad'
 WHERE l.instance_id = 'seq-1'
 ORDER BY l.item;

-- section: two chains run independently
SELECT duroxide.start_orchestration('seq-2', 'SeqEtl', '{"n": 5}');
SELECT duroxide.start_orchestration('seq-3', 'SeqEtl', '{"n": 7}');
SELECT status, output->'transformed' AS transformed FROM duroxide.wait_for_orchestration('seq-2');
SELECT status, output->'transformed' AS transformed FROM duroxide.wait_for_orchestration('seq-3');
SELECT instance_id, count(*) FROM seq.loaded GROUP BY instance_id ORDER BY instance_id;

-- section: a loop of activities: a sequence of N calls, results in order
CREATE FUNCTION seq.double(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT to_jsonb((input::text)::int * 2) $$;
CREATE FUNCTION seq.loop(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v int := (input->>'start')::int;
    trail jsonb := '[]';
BEGIN
    FOR i IN 1 .. (input->>'steps')::int LOOP
        v := duroxide.call_activity(ctx, 'SeqDouble', to_jsonb(v))::text::int;
        trail := trail || to_jsonb(v);
    END LOOP;
    RETURN trail;
END
$$;
SELECT duroxide.register_activity('SeqDouble', 'seq.double');
SELECT duroxide.register_orchestration('SeqLoop', 'seq.loop');
SELECT duroxide.start_orchestration('seq-loop', 'SeqLoop', '{"start": 1, "steps": 6}');
SELECT status, output FROM duroxide.wait_for_orchestration('seq-loop');
SELECT event_type, count(*) FROM duroxide.get_history('seq-loop') GROUP BY event_type ORDER BY event_type;

-- section: many instances at once, each with its own result
SELECT count(*) FROM (
    SELECT duroxide.start_orchestration('seq-many-' || i, 'SeqLoop', jsonb_build_object('start', i, 'steps', 3))
      FROM generate_series(1, 40) AS i) s;
SELECT count(*) FILTER (WHERE s.status = 'Completed') AS completed,
       count(*) FILTER (WHERE s.output = jsonb_build_array(i * 2, i * 4, i * 8)) AS right_output
  FROM generate_series(1, 40) AS i,
       LATERAL duroxide.wait_for_orchestration('seq-many-' || i) AS s;
