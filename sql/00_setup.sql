-- 00_setup: wait until the duroxide background workers run, so that the
-- later files see a working engine (a bounded wait for a condition, not a
-- fixed sleep), and define the helpers the later files share (schema
-- regress: settle, wait_for_event_type, wait_for_status, echo).

-- section: the extension is installed (by --load-extension)
SELECT extname FROM pg_extension WHERE extname = 'duroxide';

-- section: wait for the workers (at most ~30 s, times the setting
-- regress.wait_scale when a slow run sets it, e.g. under valgrind:
-- test/duroxide_valgrind.conf)
DO $$
DECLARE
    i integer := 0;
    scale integer := coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int;
BEGIN
    WHILE NOT duroxide._workers_running() LOOP
        i := i + 1;
        IF i > 600 * scale THEN
            RAISE EXCEPTION 'duroxide workers did not start within % s', 30 * scale;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

SELECT duroxide._workers_running() AS workers_running;

-- section: the engine starts from an empty state
SELECT * FROM duroxide.get_queue_depths();
SELECT duroxide.get_system_metrics() -> 'total_instances' AS total_instances;

-- section: helpers shared by the later files (schema regress)
CREATE SCHEMA regress;

-- wait (at most 5 s, times regress.wait_scale) until no message and no
-- activity attempt is ready to run: what reaches an instance after it ended
-- is dropped by a later turn
CREATE PROCEDURE regress.settle()
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 100 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM duroxide.orchestrator_queue q WHERE q.visible_at <= now())
              AND NOT EXISTS (SELECT 1 FROM duroxide.worker_queue w WHERE w.visible_at <= now());
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

-- wait (bounded: 30 s times regress.wait_scale) until an instance's current
-- history has an event of a type
CREATE PROCEDURE regress.wait_for_event_type(p_id text, p_type text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        IF EXISTS (SELECT 1 FROM duroxide.get_history(p_id) h WHERE h.event_type = p_type) THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'instance % never recorded %', p_id, p_type;
END
$$;

-- wait (bounded: 30 s times regress.wait_scale) until an instance's custom
-- status equals a value
CREATE PROCEDURE regress.wait_for_status(p_id text, p_status jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 * coalesce(nullif(current_setting('regress.wait_scale', true), ''), '1')::int LOOP
        IF (SELECT s.custom_status FROM duroxide.get_orchestration_status(p_id) s)
           IS NOT DISTINCT FROM p_status THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'instance % never reached custom status %', p_id, p_status;
END
$$;

-- an activity that returns its input (each file registers it under its own
-- name)
CREATE FUNCTION regress.echo(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
