-- 00_setup: wait until the duroxide background workers run, so that the
-- later files see a working engine (a bounded wait for a condition, not a
-- fixed sleep).

-- section: the extension is installed (by --load-extension)
SELECT extname FROM pg_extension WHERE extname = 'duroxide';

-- section: wait for the workers (at most ~30 s)
DO $$
DECLARE
    i integer := 0;
BEGIN
    WHILE NOT duroxide._workers_running() LOOP
        i := i + 1;
        IF i > 600 THEN
            RAISE EXCEPTION 'duroxide workers did not start within 30 s';
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

SELECT duroxide._workers_running() AS workers_running;

-- section: the engine starts from an empty state
SELECT * FROM duroxide.get_queue_depths();
SELECT duroxide.get_system_metrics() -> 'total_instances' AS total_instances;
