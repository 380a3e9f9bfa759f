-- bench/workload.sql -- the benchmark's orchestrations and activity.
--
-- Loaded by bench/run.sh into the benchmark database after
-- CREATE EXTENSION duroxide.  Everything is PL/pgSQL and goes through the
-- public SQL API only (docs: /work/shared/design/API.md).
--
--   Echo           activity: returns its input
--   Hello          orchestration: one Echo call, returns its result
--                  (output = input)
--   Chain          orchestration: input {"n": N}; N sequential Echo calls,
--                  each feeding the previous result + 1 (output = N)
--   Fan            orchestration: input {"n": N}; schedules N Echo
--                  activities (inputs 1..N), then await_all
--                  (output = [1, 2, ..., N], argument order)
--   Slow           activity: input {"i": I, "s": S}; pg_sleep(S), returns I
--   FanSlow        orchestration: input {"n": N, "s": S}; schedules N Slow
--                  activities ({"i": 1..N, "s": S}), then await_all
--                  (output = [1, 2, ..., N], like Fan)
--
--   XEcho          external activity (register_external_activity, task
--                  queue 'bench'): run by the Node.js worker of
--                  bench/external/worker.js (pg-duroxide), returns its input
--   XHello         Hello with XEcho
--   XFan           Fan with XEcho
--
-- ChainN / FanN are Chain / Fan started with {"n": N}; XFan100 is XFan with 100.
--
-- Helpers used by the harness (client side, not engine internals):
--   bench.expected(name, input)   the output an instance must have
--   bench.wait(id, timeout_ms)    duroxide.wait_for_orchestration, but
--                                 tolerates an id whose start has not been
--                                 committed yet (the waiter sessions run
--                                 alongside the starter sessions)

CREATE SCHEMA IF NOT EXISTS bench;

CREATE OR REPLACE FUNCTION bench.echo(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN input;
END
$$;

CREATE OR REPLACE FUNCTION bench.hello(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'Echo', input);
END
$$;

CREATE OR REPLACE FUNCTION bench.chain(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    n   integer := (input->>'n')::integer;
    acc integer := 0;
BEGIN
    FOR i IN 1..n LOOP
        acc := (duroxide.call_activity(ctx, 'Echo', to_jsonb(acc + 1)))::text::integer;
    END LOOP;
    RETURN to_jsonb(acc);
END
$$;

CREATE OR REPLACE FUNCTION bench.fan(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    n     integer := (input->>'n')::integer;
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'Echo', to_jsonb(i));
    END LOOP;
    RETURN duroxide.await_all(tasks);
END
$$;

-- a slow activity: sleeps input.s seconds, returns input.i
CREATE OR REPLACE FUNCTION bench.slow(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep((input->>'s')::float8);
    RETURN input->'i';
END
$$;

CREATE OR REPLACE FUNCTION bench.fan_slow(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    n     integer := (input->>'n')::integer;
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'Slow',
                                                     jsonb_build_object('i', i, 's', input->'s'));
    END LOOP;
    RETURN duroxide.await_all(tasks);
END
$$;

SELECT duroxide.register_activity('Echo', 'bench.echo');
SELECT duroxide.register_activity('Slow', 'bench.slow');
SELECT duroxide.register_orchestration('Hello', 'bench.hello');
SELECT duroxide.register_orchestration('Chain', 'bench.chain');
SELECT duroxide.register_orchestration('Fan', 'bench.fan');
SELECT duroxide.register_orchestration('FanSlow', 'bench.fan_slow');

-- the external scenarios: the same shapes, the activity run by a Node.js worker
CREATE OR REPLACE FUNCTION bench.xhello(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'XEcho', input);
END
$$;

CREATE OR REPLACE FUNCTION bench.xfan(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    n     integer := (input->>'n')::integer;
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'XEcho', to_jsonb(i));
    END LOOP;
    RETURN duroxide.await_all(tasks);
END
$$;

-- the worker registers XEcho again when it starts (the same registration)
SELECT duroxide.register_external_activity('XEcho', 'bench');
SELECT duroxide.register_orchestration('XHello', 'bench.xhello');
SELECT duroxide.register_orchestration('XFan', 'bench.xfan');

-- the output an instance of this workload must end with
CREATE OR REPLACE FUNCTION bench.expected(name text, input jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE name
        WHEN 'Hello' THEN input
        WHEN 'XHello' THEN input
        WHEN 'Chain' THEN to_jsonb((input->>'n')::integer)
        WHEN 'Fan'   THEN (SELECT coalesce(jsonb_agg(i ORDER BY i), '[]'::jsonb)
                             FROM generate_series(1, (input->>'n')::integer) i)
        WHEN 'XFan'  THEN (SELECT coalesce(jsonb_agg(i ORDER BY i), '[]'::jsonb)
                             FROM generate_series(1, (input->>'n')::integer) i)
        WHEN 'FanSlow' THEN (SELECT coalesce(jsonb_agg(i ORDER BY i), '[]'::jsonb)
                               FROM generate_series(1, (input->>'n')::integer) i)
    END
$$;

-- wait for an instance; an id not started yet is polled for (1 ms) until
-- it exists, then duroxide.wait_for_orchestration does the waiting
CREATE OR REPLACE FUNCTION bench.wait(id text, timeout_ms bigint DEFAULT 600000)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout_ms * interval '1 millisecond';
BEGIN
    WHILE (duroxide.get_orchestration_status(id)).status = 'NotFound' LOOP
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'bench.wait: instance "%" was never started', id;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
    RETURN (duroxide.wait_for_orchestration(id, timeout_ms)).status;
END
$$;

-- instance numbering for the starter and waiter sessions
CREATE SEQUENCE IF NOT EXISTS bench.start_seq;
CREATE SEQUENCE IF NOT EXISTS bench.wait_seq;
