\set SHOW_CONTEXT never
-- Long histories: every turn replays the whole execution, and dispatchers
-- keep long histories in memory between turns (src/dispatcher.c, history
-- cache).  Concurrent long chains, served by both dispatchers, must see
-- exactly their own history on every turn; continue-as-new starts a fresh
-- one.
CREATE SCHEMA longh;
CREATE FUNCTION longh.add(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT to_jsonb((input->>'acc')::bigint + (input->>'i')::bigint) $$;
SELECT duroxide.register_activity('LongAdd', 'longh.add');

-- a chain of n steps: acc = 1 + 2 + ... + n, each step an activity
CREATE FUNCTION longh.chain(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    acc jsonb := coalesce(input->'acc', '0');
    i int;
BEGIN
    FOR i IN coalesce((input->>'from')::int, 1)..(input->>'n')::int LOOP
        acc := duroxide.call_activity(ctx, 'LongAdd', jsonb_build_object('acc', acc, 'i', i));
        -- continue as new every "every" steps, carrying the sum
        IF input ? 'every' AND i % (input->>'every')::int = 0 AND i < (input->>'n')::int THEN
            PERFORM duroxide.continue_as_new(ctx,
                input || jsonb_build_object('from', i + 1, 'acc', acc));
        END IF;
    END LOOP;
    RETURN jsonb_build_object('sum', acc, 'execution', ctx.execution_id);
END $$;
SELECT duroxide.register_orchestration('LongChain', 'longh.chain');

-- section: four concurrent chains of 150 steps
SELECT count(duroxide.start_orchestration('long-' || g, 'LongChain', jsonb_build_object('n', 150)))
  FROM generate_series(1, 4) g;
SELECT instance_id, status, output FROM duroxide.wait_for_orchestration('long-1', 60000);
SELECT instance_id, status, output FROM duroxide.wait_for_orchestration('long-2', 60000);
SELECT instance_id, status, output FROM duroxide.wait_for_orchestration('long-3', 60000);
SELECT instance_id, status, output FROM duroxide.wait_for_orchestration('long-4', 60000);
-- each execution's history: started, 150 x (scheduled, completed), completed
SELECT instance_id, count(*) AS events, history_len
  FROM duroxide.history h JOIN duroxide.instances i USING (instance_id, execution_id)
 WHERE instance_id LIKE 'long-_' GROUP BY instance_id, history_len ORDER BY 1;

-- section: continue-as-new every 50 steps, 160 steps in all
SELECT duroxide.start_orchestration('long-can', 'LongChain', jsonb_build_object('n', 160, 'every', 50));
SELECT status, output FROM duroxide.wait_for_orchestration('long-can', 60000);
SELECT execution_id, status FROM duroxide.executions WHERE instance_id = 'long-can' ORDER BY 1;
SELECT count(*) AS last_execution_events FROM duroxide.get_history('long-can');

-- section: an id deleted and started again gets its own, fresh history
SELECT duroxide.delete_instance('long-1');
SELECT duroxide.start_orchestration('long-1', 'LongChain', jsonb_build_object('n', 40));
SELECT status, output FROM duroxide.wait_for_orchestration('long-1', 60000);
SELECT count(*) AS events FROM duroxide.get_history('long-1');
