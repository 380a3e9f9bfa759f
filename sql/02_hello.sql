-- 02_hello: the hello world, and the client functions' basic contract
-- (start_orchestration, get_orchestration_status, wait_for_orchestration).
\set SHOW_CONTEXT never
CREATE SCHEMA hello;

CREATE FUNCTION hello.say_hello(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN to_jsonb('Hello, ' || (input->>'name') || '!');
END
$$;

CREATE FUNCTION hello.hello_workflow(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'SayHello', input);
END
$$;

-- waits for an event that nobody raises
CREATE FUNCTION hello.waiter(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.wait_for_event(ctx, 'never');
END
$$;

-- reports what input it got
CREATE FUNCTION hello.echo(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('input_is_null', input IS NULL, 'input', input,
                              'instance_id', ctx.instance_id, 'execution_id', ctx.execution_id,
                              'name', ctx.orchestration_name, 'version', ctx.orchestration_version,
                              'parent', ctx.parent_instance_id);
END
$$;

SELECT duroxide.register_activity('SayHello', 'hello.say_hello');
SELECT duroxide.register_orchestration('HelloEcho', 'hello.echo', '2.1.0');
SELECT duroxide.register_orchestration('HelloWorkflow', 'hello.hello_workflow');
SELECT duroxide.register_orchestration('HelloWaiter', 'hello.waiter');

-- section: start, wait, completed with the activity's output
SELECT duroxide.start_orchestration('hello-1', 'HelloWorkflow', '{"name": "World"}');
SELECT instance_id, orchestration_name, orchestration_version, status, output, error,
       custom_status, execution_id, parent_instance_id
  FROM duroxide.wait_for_orchestration('hello-1');
SELECT output #>> '{}' AS greeting FROM duroxide.get_orchestration_status('hello-1');
SELECT created_at <= updated_at AS times_ordered FROM duroxide.get_orchestration_status('hello-1');

-- section: the waiter is woken by the commit that ends the instance, well
-- before the fallback poll (duroxide.poll_interval is 1000 ms here)
SELECT clock_timestamp() AS t0 \gset
SELECT duroxide.start_orchestration('hello-fast', 'HelloWorkflow', '{"name": "fast"}');
SELECT status, output FROM duroxide.wait_for_orchestration('hello-fast');
SELECT clock_timestamp() - :'t0'::timestamptz < interval '900 ms' AS woken_promptly;

-- section: the history, in order
SELECT event_id, event_type, source_event_id FROM duroxide.get_history('hello-1');
SELECT event_type, data FROM duroxide.get_history('hello-1')
 WHERE event_type IN ('OrchestrationStarted', 'ActivityScheduled', 'ActivityCompleted',
                      'OrchestrationCompleted')
 ORDER BY event_id;
-- the same with an explicit execution id
SELECT count(*) FROM duroxide.get_history('hello-1', 1);
SELECT count(*) FROM duroxide.get_history('hello-1', 2);

-- section: start_orchestration is idempotent on the instance id
SELECT duroxide.start_orchestration('hello-2', 'HelloWorkflow', '{"name": "first"}');
SELECT duroxide.start_orchestration('hello-2', 'HelloWorkflow', '{"name": "second"}');
SELECT output FROM duroxide.wait_for_orchestration('hello-2');
SELECT count(*) FROM duroxide.instances WHERE instance_id = 'hello-2';
SELECT count(*) FROM duroxide.get_history('hello-2') WHERE event_type = 'OrchestrationStarted';
-- starting a completed id again does nothing either
SELECT duroxide.start_orchestration('hello-1', 'HelloWorkflow', '{"name": "again"}');
SELECT status, output FROM duroxide.get_orchestration_status('hello-1');

-- section: an explicit version
SELECT duroxide.start_orchestration('hello-3', 'HelloWorkflow', '{"name": "v"}', '1.0.0');
SELECT orchestration_version, output FROM duroxide.wait_for_orchestration('hello-3');

-- section: the context, and a NULL input that reaches the orchestration as NULL
SELECT duroxide.start_orchestration('hello-4', 'HelloEcho');
SELECT status, output FROM duroxide.wait_for_orchestration('hello-4');
SELECT duroxide.start_orchestration('hello-5', 'HelloEcho', '[1, "two", {"three": 3}]');
SELECT status, output -> 'input' AS input FROM duroxide.wait_for_orchestration('hello-5');

-- section: unknown orchestration name or version, NULL or empty ids
SELECT duroxide.start_orchestration('hello-x', 'NoSuchWorkflow', '{}');
SELECT duroxide.start_orchestration('hello-x', 'HelloWorkflow', '{}', '9.9.9');
SELECT duroxide.start_orchestration(NULL, 'HelloWorkflow', '{}');
SELECT duroxide.start_orchestration('', 'HelloWorkflow', '{}');
SELECT duroxide.start_orchestration(repeat('x', 1025), 'HelloWorkflow', '{}');
SELECT duroxide.start_orchestration('hello-x', NULL, '{}');
SELECT status FROM duroxide.get_orchestration_status('hello-x');

-- section: invalid JSON input (the jsonb cast refuses it before the call)
SELECT duroxide.start_orchestration('hello-x', 'HelloWorkflow', '{bad'::jsonb);
SELECT status FROM duroxide.get_orchestration_status('hello-x');

-- section: status of an unknown instance
SELECT instance_id, status, output, error, execution_id
  FROM duroxide.get_orchestration_status('no-such-instance');

-- section: wait_for_orchestration errors
SELECT duroxide.start_orchestration('hello-wait', 'HelloWaiter');
-- (wait until it waits for its event, so that its history below is always the same)
CALL regress.wait_for_event_type('hello-wait', 'EventSubscribed');
SELECT status FROM duroxide.wait_for_orchestration('hello-wait', 200);
SELECT status FROM duroxide.get_orchestration_status('hello-wait');
SELECT status FROM duroxide.wait_for_orchestration('hello-wait', -1);
SELECT status FROM duroxide.wait_for_orchestration('no-such-instance', 200);
SELECT status FROM duroxide.wait_for_orchestration(NULL, 200);
SELECT status FROM duroxide.wait_for_orchestration('', 200);
-- a terminal instance returns at once, even with timeout 0
SELECT status FROM duroxide.wait_for_orchestration('hello-1', 0);

-- section: waiting inside the transaction that started the instance
BEGIN;
SELECT duroxide.start_orchestration('hello-own', 'HelloWorkflow', '{"name": "own"}');
SELECT status FROM duroxide.wait_for_orchestration('hello-own', 1000);
ROLLBACK;
-- rolled back: nothing was started
SELECT status FROM duroxide.get_orchestration_status('hello-own');

-- section: start_orchestration is transactional
BEGIN;
SELECT duroxide.start_orchestration('hello-rb', 'HelloWorkflow', '{"name": "rb"}');
ROLLBACK;
SELECT status FROM duroxide.get_orchestration_status('hello-rb');
BEGIN;
SELECT duroxide.start_orchestration('hello-commit', 'HelloWorkflow', '{"name": "commit"}');
COMMIT;
SELECT status, output FROM duroxide.wait_for_orchestration('hello-commit');

-- section: REPEATABLE READ cannot wait
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT status FROM duroxide.wait_for_orchestration('hello-1', 100);
ROLLBACK;

-- section: clean up the waiting instance
SELECT duroxide.cancel_orchestration('hello-wait', 'test done');
SELECT status, error FROM duroxide.wait_for_orchestration('hello-wait');
SELECT event_type FROM duroxide.get_history('hello-wait') ORDER BY event_id;
