-- 09_continue_as_new: an eternal-style loop that restarts itself with fresh
-- history, and version upgrades through continue_as_new.
\set SHOW_CONTEXT never
CREATE SCHEMA can;

CREATE FUNCTION can.inc(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT to_jsonb((input::text)::int + 1) $$;
SELECT duroxide.register_activity('CanInc', 'can.inc');

-- input {"i": k, "n": N, "trail": [...]}: one activity per execution, then
-- continue as new until i = n
CREATE FUNCTION can.loop(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    i int := (input->>'i')::int;
    next int;
    trail jsonb := coalesce(input->'trail', '[]') || to_jsonb(ctx.execution_id);
BEGIN
    next := duroxide.call_activity(ctx, 'CanInc', to_jsonb(i))::text::int;
    IF next > (input->>'n')::int THEN
        RETURN jsonb_build_object('final_i', i, 'execution_id', ctx.execution_id, 'trail', trail);
    END IF;
    PERFORM duroxide.continue_as_new(ctx, jsonb_build_object('i', next, 'n', input->'n', 'trail', trail));
    RETURN '"not reached"';
END
$$;
SELECT duroxide.register_orchestration('CanLoop', 'can.loop');

-- section: five executions
SELECT duroxide.start_orchestration('can-1', 'CanLoop', '{"i": 1, "n": 5}');
SELECT status, output, execution_id FROM duroxide.wait_for_orchestration('can-1');

-- section: the final execution's history is fresh and small
SELECT event_id, event_type, source_event_id FROM duroxide.get_history('can-1');
SELECT data->'input' AS input FROM duroxide.get_history('can-1')
 WHERE event_type = 'OrchestrationStarted';

-- section: earlier executions keep their own history
SELECT event_id, event_type, data FROM duroxide.get_history('can-1', 1);
SELECT e AS execution_id, (SELECT string_agg(event_type, ', ' ORDER BY event_id)
                             FROM duroxide.get_history('can-1', e)) AS events
  FROM generate_series(1, 5) AS e;
SELECT count(*) FROM duroxide.get_history('can-1', 6);

-- section: continue_as_new never returns
CREATE FUNCTION can.after(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF ctx.execution_id = 1 THEN
        BEGIN
            PERFORM duroxide.continue_as_new(ctx, '"second"');
        EXCEPTION WHEN OTHERS THEN
            -- swallowing the unwinding does not undo the continue-as-new
            NULL;
        END;
        RETURN '"first execution returned"';
    END IF;
    RETURN jsonb_build_object('execution_id', ctx.execution_id, 'input', input);
END
$$;
SELECT duroxide.register_orchestration('CanAfter', 'can.after');
SELECT duroxide.start_orchestration('can-2', 'CanAfter', '"first"');
SELECT status, output, execution_id FROM duroxide.wait_for_orchestration('can-2');
SELECT event_type, data FROM duroxide.get_history('can-2', 1) ORDER BY event_id;

-- section: a running instance keeps its version; continue_as_new picks up the newest
CREATE FUNCTION can.v1(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.wait_for_event(ctx, 'upgrade');
    PERFORM duroxide.continue_as_new(ctx, jsonb_build_object('from', ctx.orchestration_version));
    RETURN NULL;
END
$$;
CREATE FUNCTION can.v2(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('from', input->'from', 'now', ctx.orchestration_version,
                              'execution_id', ctx.execution_id);
END
$$;
SELECT duroxide.register_orchestration('CanVersioned', 'can.v1', '1.0.0');
SELECT duroxide.start_orchestration('can-3', 'CanVersioned');
SELECT duroxide.register_orchestration('CanVersioned', 'can.v2', '2.0.0');
SELECT orchestration_version FROM duroxide.get_orchestration_status('can-3');
CALL regress.wait_for_event_type('can-3', 'EventSubscribed');
SELECT duroxide.raise_event('can-3', 'upgrade');
SELECT status, orchestration_version, output FROM duroxide.wait_for_orchestration('can-3');
SELECT event_type, data->>'version' AS version FROM duroxide.get_history('can-3', 1) ORDER BY event_id;

-- section: continue_as_new to an explicit version
CREATE FUNCTION can.v3(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF ctx.orchestration_version = '3.0.0' THEN
        PERFORM duroxide.continue_as_new(ctx, '"downgraded"', '2.0.0');
    END IF;
    RETURN NULL;
END
$$;
SELECT duroxide.register_orchestration('CanVersioned', 'can.v3', '3.0.0');
SELECT duroxide.start_orchestration('can-4', 'CanVersioned');
SELECT status, orchestration_version, output FROM duroxide.wait_for_orchestration('can-4');

-- section: continue_as_new to an unregistered version fails the instance
CREATE FUNCTION can.bad_version(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.continue_as_new(ctx, NULL, '9.9.9');
    RETURN NULL;
END
$$;
SELECT duroxide.register_orchestration('CanBadVersion', 'can.bad_version');
SELECT duroxide.start_orchestration('can-5', 'CanBadVersion');
SELECT status, error, execution_id FROM duroxide.wait_for_orchestration('can-5');

-- section: work left pending by an earlier execution does not reach the new one
CREATE FUNCTION can.leaves_timer(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF ctx.execution_id = 1 THEN
        PERFORM duroxide.schedule_timer(ctx, 100);   -- never awaited
        PERFORM duroxide.continue_as_new(ctx, '"second"');
    END IF;
    RETURN jsonb_build_object('execution_id', ctx.execution_id, 'event', duroxide.wait_for_event(ctx, 'go'));
END
$$;
SELECT duroxide.register_orchestration('CanLeavesTimer', 'can.leaves_timer');
SELECT duroxide.start_orchestration('can-6', 'CanLeavesTimer');
-- wait until the first execution's timer has fired and been dealt with
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        IF EXISTS (SELECT 1 FROM duroxide.get_history('can-6', 2) h WHERE h.event_type = 'EventSubscribed')
           AND NOT EXISTS (SELECT 1 FROM duroxide.orchestrator_queue q WHERE q.instance_id = 'can-6') THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'can-6 never settled';
END
$$;
SELECT duroxide.raise_event('can-6', 'go', '"done"');
SELECT status, output, execution_id FROM duroxide.wait_for_orchestration('can-6');
SELECT e AS execution_id, (SELECT string_agg(event_type, ', ' ORDER BY event_id)
                             FROM duroxide.get_history('can-6', e)) AS events
  FROM generate_series(1, 2) AS e;

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
