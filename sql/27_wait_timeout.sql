-- 27_wait_timeout: wait_for_orchestration's timeout raises SQLSTATE DX004
-- ("wait timed out"), which PL/pgSQL catches with WHEN OTHERS and with
-- WHEN SQLSTATE 'DX004'.
\set SHOW_CONTEXT never
CREATE SCHEMA wto;

-- an orchestration that waits for an event nobody raises until the end
CREATE FUNCTION wto.waits(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;
SELECT duroxide.register_orchestration('WtoWaits', 'wto.waits');
SELECT duroxide.start_orchestration('wto-1', 'WtoWaits');

-- section: the error itself, with its SQLSTATE
SELECT status FROM duroxide.wait_for_orchestration('wto-1', 50);
\set VERBOSITY sqlstate
SELECT status FROM duroxide.wait_for_orchestration('wto-1', 50);
\set VERBOSITY default

-- section: WHEN OTHERS catches it (57014, query_canceled, it would not)
DO $$
BEGIN
    PERFORM duroxide.wait_for_orchestration('wto-1', 50);
    RAISE NOTICE 'not reached';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'caught by WHEN OTHERS: % %', SQLSTATE, SQLERRM;
END
$$;

-- section: WHEN SQLSTATE 'DX004' catches it, and only it
DO $$
BEGIN
    PERFORM duroxide.wait_for_orchestration('wto-1', 0);
    RAISE NOTICE 'not reached';
EXCEPTION WHEN SQLSTATE 'DX004' THEN
    RAISE NOTICE 'caught by WHEN SQLSTATE DX004: %', SQLSTATE;
END
$$;
DO $$
BEGIN
    PERFORM duroxide.wait_for_orchestration('wto-missing', 0);
EXCEPTION WHEN SQLSTATE 'DX004' THEN
    RAISE NOTICE 'not reached';
WHEN OTHERS THEN
    RAISE NOTICE 'an unknown instance is not a timeout: %', SQLSTATE;
END
$$;

-- section: the instance still runs after the timeouts, and ends normally
SELECT status FROM duroxide.get_orchestration_status('wto-1');
SELECT duroxide.raise_event('wto-1', 'go', '"went"');
SELECT status, output FROM duroxide.wait_for_orchestration('wto-1', 30000);
