-- 55_replay_fast: duroxide.call_activity answers a call whose result is
-- recorded without the general path (src/replay_fast.c), and everything the
-- fast path does not take still behaves as before: inputs equal only as
-- values, changed inputs (nondeterminism), failures, SQL NULL inputs, a
-- context of another instance, a call outside any turn, by a hostile role.
\set SHOW_CONTEXT never
CREATE SCHEMA fast;
CREATE FUNCTION fast.fail(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'fast failure %', input; END $$;
SELECT duroxide.register_activity('FastEcho', 'regress.echo');
SELECT duroxide.register_activity('FastFail', 'fast.fail');

-- section: a chain replays its recorded calls (20 turns, each replaying the
-- calls before it) and ends with the right value
CREATE FUNCTION fast.chain(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    acc integer := 0;
    r jsonb;
BEGIN
    FOR i IN 1 .. (input->>'n')::integer LOOP
        acc := (duroxide.call_activity(ctx, 'FastEcho', to_jsonb(acc + 1)))::text::integer;
    END LOOP;
    -- an object input and a null result are replayed too
    r := duroxide.call_activity(ctx, 'FastEcho', jsonb_build_object('acc', acc, 'list', jsonb_build_array(1, 'two', null)));
    RETURN jsonb_build_object('acc', acc, 'obj', r, 'null', duroxide.call_activity(ctx, 'FastEcho', 'null'));
END
$$;
SELECT duroxide.register_orchestration('FastChain', 'fast.chain');
SELECT duroxide.start_orchestration('fast-chain', 'FastChain', '{"n": 20}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('fast-chain');
SELECT count(*) FILTER (WHERE event_type = 'ActivityCompleted') AS completed
  FROM duroxide.get_history('fast-chain');

-- section: a replayed input equal to the recorded one only as a value
-- (1.0 vs 1.00) is not nondeterminism; a SQL NULL input replays too
CREATE FUNCTION fast.same_value(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a jsonb;
    b jsonb;
BEGIN
    a := duroxide.call_activity(ctx, 'FastEcho',
             CASE WHEN duroxide.is_replaying(ctx) THEN '{"x": 1.00}' ELSE '{"x": 1.0}' END::jsonb);
    b := duroxide.call_activity(ctx, 'FastEcho', NULL);
    RETURN jsonb_build_object('a', a, 'b', b, 'c', duroxide.call_activity(ctx, 'FastEcho', '3'));
END
$$;
SELECT duroxide.register_orchestration('FastSameValue', 'fast.same_value');
SELECT duroxide.start_orchestration('fast-same', 'FastSameValue');
SELECT status, output, error FROM duroxide.wait_for_orchestration('fast-same');

-- section: a replayed input that differs from the recorded one fails the
-- instance as nondeterministic, as before
CREATE FUNCTION fast.changed(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'FastEcho',
                CASE WHEN duroxide.is_replaying(ctx) THEN '2' ELSE '1' END::jsonb);
    RETURN duroxide.call_activity(ctx, 'FastEcho', '3');
END
$$;
SELECT duroxide.register_orchestration('FastChanged', 'fast.changed');
SELECT duroxide.start_orchestration('fast-changed', 'FastChanged');
SELECT status, error FROM duroxide.wait_for_orchestration('fast-changed');

-- section: another name at the same position is nondeterminism too
CREATE FUNCTION fast.renamed(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx,
                CASE WHEN duroxide.is_replaying(ctx) THEN 'FastFail' ELSE 'FastEcho' END, '1');
    RETURN duroxide.call_activity(ctx, 'FastEcho', '3');
END
$$;
SELECT duroxide.register_orchestration('FastRenamed', 'fast.renamed');
SELECT duroxide.start_orchestration('fast-renamed', 'FastRenamed');
SELECT status, error FROM duroxide.wait_for_orchestration('fast-renamed');

-- section: a recorded failure is raised again on every replay (DX001), and
-- code that catches it goes on
CREATE FUNCTION fast.failing(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    caught text;
BEGIN
    BEGIN
        PERFORM duroxide.call_activity(ctx, 'FastFail', '"boom"');
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        caught := SQLERRM;
    END;
    RETURN jsonb_build_object('caught', caught, 'after', duroxide.call_activity(ctx, 'FastEcho', '7'));
END
$$;
SELECT duroxide.register_orchestration('FastFailing', 'fast.failing');
SELECT duroxide.start_orchestration('fast-failing', 'FastFailing');
SELECT status, output, error FROM duroxide.wait_for_orchestration('fast-failing');

-- section: a context whose instance id was changed (a PL/pgSQL record, what
-- the fast path reads in place) is refused
CREATE FUNCTION fast.forged(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    other duroxide.context := ctx;
BEGIN
    PERFORM duroxide.call_activity(ctx, 'FastEcho', '1');
    other.instance_id := 'fast-chain';
    RETURN duroxide.call_activity(other, 'FastEcho', '1');
END
$$;
SELECT duroxide.register_orchestration('FastForged', 'fast.forged');
SELECT duroxide.start_orchestration('fast-forged', 'FastForged');
SELECT status, error FROM duroxide.wait_for_orchestration('fast-forged');

-- section: outside any turn call_activity is refused, for a hostile role too
CREATE ROLE dx_fast_hostile LOGIN IN ROLE duroxide_user;
SET ROLE dx_fast_hostile;
SELECT duroxide.call_activity(ROW('fast-chain', 1, 'FastChain', '1.0', NULL)::duroxide.context, 'FastEcho', '1');
SELECT duroxide.call_activity(NULL, 'FastEcho', '1');
RESET ROLE;
-- it changed nothing of the instance it named
SELECT count(*) AS events FROM duroxide.get_history('fast-chain');
DROP ROLE dx_fast_hostile;
