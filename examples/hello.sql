-- examples/hello.sql -- the smallest duroxide workflow: one orchestration,
-- one activity.
--
--   psql -d mydb -f examples/hello.sql
--   SELECT duroxide.start_orchestration('hello-1', 'HelloWorkflow', '{"name": "World"}');
--   SELECT output FROM duroxide.wait_for_orchestration('hello-1');   -- "Hello, World!"
--
-- Needs CREATE EXTENSION duroxide in this database, and (for the workers that
-- run it) shared_preload_libraries = 'duroxide' with duroxide.database set to
-- this database.  Safe to run again: everything is CREATE OR REPLACE and
-- registering the same name again replaces the registration.

CREATE SCHEMA IF NOT EXISTS duroxide_examples;

-- The activity: ordinary code that runs once per attempt, in its own
-- transaction, and may do anything (query, write tables, call out).  Its
-- result is recorded in the instance's history.
CREATE OR REPLACE FUNCTION duroxide_examples.say_hello(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN to_jsonb('Hello, ' || (input->>'name') || '!');
END
$$;

-- The orchestration: replayed from the start on every turn, so it must be
-- deterministic.  call_activity schedules SayHello and waits for it; once its
-- result is in history, replay returns that result at once.
CREATE OR REPLACE FUNCTION duroxide_examples.hello_workflow(ctx duroxide.context, input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'SayHello', input);
END
$$;

-- Registration is by name: start_orchestration and call_activity use these
-- names, not the function names.
SELECT duroxide.register_activity('SayHello', 'duroxide_examples.say_hello');
SELECT duroxide.register_orchestration('HelloWorkflow', 'duroxide_examples.hello_workflow');
