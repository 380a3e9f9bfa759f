\set SHOW_CONTEXT never
-- An activity written in C against the json-c API of src/duroxide.h: the
-- example activity (symbol duroxide_c_example_activity) returns {"input",
-- "attempt", "via": "json-c"} and fails with input->>'fail' when that key is
-- present.  It is a test fixture: the extension does not ship it executable
-- by PUBLIC, so this file declares its own function for it.
CREATE SCHEMA capi;
CREATE FUNCTION capi.example_activity(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
    AS 'duroxide', 'duroxide_c_example_activity' LANGUAGE C;

-- section: registration accepts a C function with the activity signature
SELECT duroxide.register_activity('CExample', 'capi.example_activity');

CREATE FUNCTION capi.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    ok jsonb;
    failed text;
BEGIN
    ok := duroxide.call_activity(ctx, 'CExample', input);
    BEGIN
        PERFORM duroxide.call_activity(ctx, 'CExample', '{"fail": "refused by the C activity"}');
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        failed := SQLERRM;
    END;
    RETURN jsonb_build_object('ok', ok, 'failed', failed,
                              'null_input', duroxide.call_activity(ctx, 'CExample', NULL));
END $$;
SELECT duroxide.register_orchestration('CApi', 'capi.orch');

-- section: values go through json-c and back unchanged
SELECT duroxide.start_orchestration('capi-1', 'CApi',
    '{"n": 1, "s": "ünïcödé \"quoted\"", "a": [1, 2.5, null, true], "o": {"k": "v"}}');
SELECT status, jsonb_pretty(output) FROM duroxide.wait_for_orchestration('capi-1', 10000);
SELECT event_type FROM duroxide.get_history('capi-1') ORDER BY event_id;

-- section: a scalar input
SELECT duroxide.start_orchestration('capi-2', 'CApi', '"just a string"');
SELECT status, output->'ok' AS ok FROM duroxide.wait_for_orchestration('capi-2', 10000);
