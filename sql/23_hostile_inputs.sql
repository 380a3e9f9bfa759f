\set SHOW_CONTEXT never
-- Hostile input: every client function is called with NULLs, empty strings,
-- huge strings, odd characters, unknown names and ids, and negative and huge
-- numbers.  Each call must either succeed or fail with a clear error (a
-- SQLSTATE that is not an internal error, a message); the server must not
-- crash, and the engine must keep working afterwards.
CREATE SCHEMA hostile;
CREATE TABLE hostile.results (call text, arg text, outcome text, sqlstate text, message text);

CREATE FUNCTION hostile.echo(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN input; END $$;
SELECT duroxide.register_orchestration('HostileEcho', 'hostile.echo');
SELECT duroxide.start_orchestration('hostile-known', 'HostileEcho', '"ok"');
SELECT status FROM duroxide.wait_for_orchestration('hostile-known', 10000);

-- section: run every call, record what happened
DO $$
DECLARE
    texts text[] := ARRAY[NULL, '', ' ', repeat('x', 10240), E'quote\' backslash\\ "dq" ünï ☃',
                          E'tab\tnewline\n', 'hostile-known', 'no-such-instance', $x$'); DROP TABLE hostile.results; --$x$];
    jsons jsonb[] := ARRAY[NULL, 'null', '""', '[]', '{}', to_jsonb(repeat('y', 2000000)),
                           '{"deep": [[[[[[[[[[1]]]]]]]]]]}'::jsonb];
    numbers bigint[] := ARRAY[NULL, -1, 0, 1, 9223372036854775807];
    calls text[] := ARRAY[
        'SELECT duroxide.start_orchestration($1, $1)',
        'SELECT duroxide.start_orchestration(''hostile-'' || md5(coalesce($1, ''n'')), $1)',
        'SELECT duroxide.start_orchestration(''hostile-v-'' || md5(coalesce($1, ''n'')), ''HostileEcho'', NULL, $1)',
        'SELECT duroxide.raise_event($1, $1)',
        'SELECT duroxide.raise_event(''hostile-known'', $1)',
        'SELECT duroxide.cancel_orchestration($1, $1)',
        'SELECT duroxide.get_orchestration_status($1)',
        'SELECT * FROM duroxide.get_history($1)',
        'SELECT duroxide.delete_instance(''hostile-del-'' || $1)',
        'SELECT duroxide.register_orchestration($1, ''hostile.echo'')',
        'SELECT duroxide.register_orchestration(''HostileX'', ''hostile.echo'', $1)',
        'SELECT duroxide.register_activity($1, ''hostile.echo'')',
        'SELECT duroxide.unregister_orchestration($1)',
        'SELECT duroxide.unregister_activity($1)'];
    json_calls text[] := ARRAY[
        'SELECT duroxide.start_orchestration(''hostile-j-'' || md5(coalesce($1::text, ''n'')), ''HostileEcho'', $1)',
        'SELECT duroxide.raise_event(''hostile-known'', ''e'', $1)',
        'SELECT duroxide.raise_event(''no-such-instance'', ''e'', $1)'];
    number_calls text[] := ARRAY[
        'SELECT * FROM duroxide.wait_for_orchestration(''no-such-instance'', $1)',
        'SELECT status FROM duroxide.wait_for_orchestration(''hostile-known'', $1)',
        'SELECT * FROM duroxide.get_history(''hostile-known'', $1::int)',
        'SELECT duroxide.purge_instances(make_interval(secs => $1 / 1000))'];
    c text;
    t text;
    j jsonb;
    n bigint;
    st text;
    msg text;
BEGIN
    FOREACH c IN ARRAY calls LOOP
        FOREACH t IN ARRAY texts LOOP
            BEGIN
                EXECUTE c USING t;
                INSERT INTO hostile.results VALUES (c, left(t, 20), 'ok', NULL, NULL);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                INSERT INTO hostile.results VALUES (c, left(t, 20), 'error', st, msg);
            END;
        END LOOP;
    END LOOP;
    FOREACH c IN ARRAY json_calls LOOP
        FOREACH j IN ARRAY jsons LOOP
            BEGIN
                EXECUTE c USING j;
                INSERT INTO hostile.results VALUES (c, left(j::text, 20), 'ok', NULL, NULL);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                INSERT INTO hostile.results VALUES (c, left(j::text, 20), 'error', st, msg);
            END;
        END LOOP;
    END LOOP;
    FOREACH c IN ARRAY number_calls LOOP
        FOREACH n IN ARRAY numbers LOOP
            BEGIN
                EXECUTE c USING n;
                INSERT INTO hostile.results VALUES (c, n::text, 'ok', NULL, NULL);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                INSERT INTO hostile.results VALUES (c, n::text, 'error', st, msg);
            END;
        END LOOP;
    END LOOP;
END $$;

-- section: every call was made; no internal error, no error without a message
SELECT count(*) AS calls FROM hostile.results;
SELECT call, arg, sqlstate, message FROM hostile.results
 WHERE outcome = 'error' AND (sqlstate IS NULL OR sqlstate LIKE 'XX%' OR coalesce(message, '') = '');

-- the errors by kind (SQLSTATE class and message shape, without the values)
SELECT sqlstate,
       left(regexp_replace(regexp_replace(message, '"[^"]*"', '"…"', 'g'), '[0-9]+', 'N', 'g'), 90) AS message,
       count(*)
  FROM hostile.results WHERE outcome = 'error'
 GROUP BY 1, 2 ORDER BY 1, 2;

-- the injection attempt was only ever a value
SELECT count(*) > 0 AS results_table_still_there FROM hostile.results;

-- section: the engine still works
SELECT duroxide.start_orchestration('hostile-after', 'HostileEcho', '{"still": "working"}');
SELECT status, output FROM duroxide.wait_for_orchestration('hostile-after', 10000);
