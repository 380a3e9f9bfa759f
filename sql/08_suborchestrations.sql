-- 08_suborchestrations: call_sub_orchestration / schedule_sub_orchestration
-- (auto and explicit ids, failures as DX002) and start_orchestration_detached.
\set SHOW_CONTEXT never
CREATE SCHEMA sub;

CREATE FUNCTION sub.double(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT to_jsonb((input->>'n')::int * 2) $$;
SELECT duroxide.register_activity('SubDouble', 'sub.double');

-- the child: doubles input.n with an activity, or fails when input.fail is set
CREATE FUNCTION sub.child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF input ? 'fail' THEN
        RAISE EXCEPTION '%', input->>'fail';
    END IF;
    RETURN jsonb_build_object('doubled', duroxide.call_activity(ctx, 'SubDouble', input),
                              'parent', ctx.parent_instance_id,
                              'version', ctx.orchestration_version);
END
$$;
SELECT duroxide.register_orchestration('SubChild', 'sub.child');
SELECT duroxide.register_orchestration('SubChild', 'sub.child', '2.0.0');

-- calls the child with input.child_input, at input.child_id if given
CREATE FUNCTION sub.parent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('child', duroxide.call_sub_orchestration(ctx,
        coalesce(input->>'child_name', 'SubChild'), input->'child_input',
        input->>'child_id', input->>'child_version'));
END
$$;
SELECT duroxide.register_orchestration('SubParent', 'sub.parent');

-- catches a failed child
CREATE FUNCTION sub.parent_catches(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        RETURN duroxide.call_sub_orchestration(ctx, 'SubChild', input, input->>'id');
    EXCEPTION WHEN SQLSTATE 'DX002' THEN
        RETURN jsonb_build_object('caught', SQLSTATE, 'message', SQLERRM);
    END;
END
$$;
SELECT duroxide.register_orchestration('SubParentCatches', 'sub.parent_catches');

-- section: a child with an automatic id
SELECT duroxide.start_orchestration('sub-1', 'SubParent', '{"child_input": {"n": 21}}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('sub-1');
SELECT event_id, event_type, source_event_id, data->>'name' AS name
  FROM duroxide.get_history('sub-1');
-- the automatic id is derived from the parent's id, and the child knows its parent
SELECT instance_id LIKE 'sub-1%' AS derived_from_parent, instance_id <> 'sub-1' AS distinct_id,
       orchestration_name, status, parent_instance_id, output
  FROM duroxide.instances WHERE parent_instance_id = 'sub-1';
SELECT h.data->>'instance_id' = i.instance_id AS recorded_id_matches
  FROM duroxide.get_history('sub-1') h, duroxide.instances i
 WHERE h.event_type = 'SubOrchestrationScheduled' AND i.parent_instance_id = 'sub-1';
SELECT event_type FROM duroxide.get_history(
    (SELECT instance_id FROM duroxide.instances WHERE parent_instance_id = 'sub-1'))
 ORDER BY event_id;

-- section: a child with an explicit id and version
SELECT duroxide.start_orchestration('sub-2', 'SubParent',
    '{"child_input": {"n": 5}, "child_id": "sub-2-child", "child_version": "1.0.0"}');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-2');
SELECT instance_id, orchestration_name, orchestration_version, status, parent_instance_id
  FROM duroxide.get_orchestration_status('sub-2-child');
SELECT data->>'instance_id' AS instance_id, data->>'version' AS version
  FROM duroxide.get_history('sub-2') WHERE event_type = 'SubOrchestrationScheduled';
-- without a version the child gets the highest one
SELECT duroxide.start_orchestration('sub-3', 'SubParent',
    '{"child_input": {"n": 1}, "child_id": "sub-3-child"}');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-3');

-- section: a failed child fails the parent with the child's message (DX002 uncaught)
SELECT duroxide.start_orchestration('sub-4', 'SubParent',
    '{"child_input": {"fail": "child exploded"}, "child_id": "sub-4-child"}');
SELECT status, error FROM duroxide.wait_for_orchestration('sub-4');
SELECT status, error FROM duroxide.get_orchestration_status('sub-4-child');
SELECT event_type, data FROM duroxide.get_history('sub-4')
 WHERE event_type IN ('SubOrchestrationFailed', 'OrchestrationFailed') ORDER BY event_id;

-- section: a failed child is catchable as DX002
SELECT duroxide.start_orchestration('sub-5', 'SubParentCatches', '{"fail": "child said no", "id": "sub-5-child"}');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-5');
SELECT duroxide.start_orchestration('sub-6', 'SubParentCatches', '{"n": 4, "id": "sub-6-child"}');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-6');

-- section: an explicit child id that already exists fails the child task
SELECT duroxide.start_orchestration('sub-7', 'SubParentCatches', '{"n": 1, "id": "sub-2-child"}');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-7');
-- the existing instance is untouched
SELECT status, parent_instance_id FROM duroxide.get_orchestration_status('sub-2-child');

-- section: an unregistered child name fails the parent
SELECT duroxide.start_orchestration('sub-8', 'SubParent', '{"child_name": "NoSuchChild"}');
SELECT status, error FROM duroxide.wait_for_orchestration('sub-8');

-- section: several children in parallel, and a grandchild
CREATE FUNCTION sub.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1 .. 3 LOOP
        tasks := tasks || duroxide.schedule_sub_orchestration(ctx, 'SubChild', jsonb_build_object('n', i),
                                                               ctx.instance_id || '-c' || i);
    END LOOP;
    RETURN (SELECT jsonb_agg(x->'doubled') FROM jsonb_array_elements(duroxide.await_all(tasks)) AS x);
END
$$;
CREATE FUNCTION sub.grandparent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('fan', duroxide.call_sub_orchestration(ctx, 'SubFan', NULL, 'sub-9-fan'));
END
$$;
SELECT duroxide.register_orchestration('SubFan', 'sub.fan');
SELECT duroxide.register_orchestration('SubGrandparent', 'sub.grandparent');
SELECT duroxide.start_orchestration('sub-9', 'SubGrandparent');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-9');
SELECT instance_id, status, parent_instance_id FROM duroxide.instances
 WHERE instance_id LIKE 'sub-9%' ORDER BY instance_id;

-- section: start_orchestration_detached: recorded in history, runs on its own
CREATE FUNCTION sub.detacher(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.start_orchestration_detached(ctx, 'SubChild', 'sub-10-detached', '{"n": 50}');
    RETURN '"started"';
END
$$;
SELECT duroxide.register_orchestration('SubDetacher', 'sub.detacher');
SELECT duroxide.start_orchestration('sub-10', 'SubDetacher');
SELECT status, output FROM duroxide.wait_for_orchestration('sub-10');
SELECT event_type, data FROM duroxide.get_history('sub-10') ORDER BY event_id;
-- the detached instance completes, and has no parent
SELECT status, output, parent_instance_id FROM duroxide.wait_for_orchestration('sub-10-detached');

-- section: detached start with a bad name fails the starter
CREATE FUNCTION sub.detach_bad(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.start_orchestration_detached(ctx, 'NoSuchChild', 'sub-11-detached');
    RETURN '"started"';
END
$$;
SELECT duroxide.register_orchestration('SubDetachBad', 'sub.detach_bad');
SELECT duroxide.start_orchestration('sub-11', 'SubDetachBad');
SELECT status, error FROM duroxide.wait_for_orchestration('sub-11');
SELECT status FROM duroxide.get_orchestration_status('sub-11-detached');

-- section: cancelling a parent cancels its running children, recursively
CREATE FUNCTION sub.waiter(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF input->>'depth' = '0' THEN
        RETURN duroxide.wait_for_event(ctx, 'never');
    END IF;
    RETURN duroxide.call_sub_orchestration(ctx, 'SubWaiter',
        jsonb_build_object('depth', (input->>'depth')::int - 1), ctx.instance_id || '-c');
END
$$;
SELECT duroxide.register_orchestration('SubWaiter', 'sub.waiter');
SELECT duroxide.start_orchestration('sub-12', 'SubWaiter', '{"depth": 2}');
CALL regress.wait_for_event_type('sub-12-c-c', 'EventSubscribed');
SELECT duroxide.cancel_orchestration('sub-12', 'no longer needed');
SELECT status, error FROM duroxide.wait_for_orchestration('sub-12');
SELECT s.instance_id, s.status, s.error
  FROM unnest(ARRAY['sub-12-c', 'sub-12-c-c']) AS u(id),
       LATERAL duroxide.wait_for_orchestration(u.id) AS s
 ORDER BY 1;
SELECT event_type FROM duroxide.get_history('sub-12') ORDER BY event_id;
-- cancelling a terminal instance does nothing; an unknown one is an error
SELECT duroxide.cancel_orchestration('sub-12');
SELECT status, error FROM duroxide.get_orchestration_status('sub-12');
SELECT duroxide.cancel_orchestration('sub-no-such-instance');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
