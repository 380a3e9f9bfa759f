# History and payload limits, as the background workers apply them.
#
# With duroxide.max_history_events = 100 (set in postgresql.conf, so the
# workers run with it):
#   - an orchestration making 500 utc_now calls in one turn fails with an
#     error that tells the author to use continue_as_new;
#   - one whose history grows past the limit over many turns (a loop of
#     activities) fails the same way;
#   - the boundary: 98 utc_now calls (100 events with the start and the end)
#     complete, 99 calls fail;
#   - the remedy works: the same 500 calls in chunks of 50 with
#     continue_as_new complete in 10 executions.
# With duroxide.max_payload_size = 4kB:
#   - an orchestration returning a 100 kB string fails with "too large";
#   - an activity returning one fails its task: the orchestration catches
#     DX001 and returns the message;
#   - a child returning one fails the child: the parent catches DX002;
#   - an activity input of 100 kB fails the orchestration that schedules it;
#   - start_orchestration and raise_event refuse 100 kB at once;
#   - 3 kB payloads everywhere are fine.
# Other instances are not affected and the engine keeps serving.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'limits',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'duroxide.max_history_events' => 100,
	'duroxide.max_payload_size' => '4kB',
	'log_statement' => 'none');

$node->safe_psql(
	'postgres', q{
-- input {"calls": n}: n utc_now calls in one turn
CREATE FUNCTION public.many_now(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
BEGIN
    FOR i IN 1..(input->>'calls')::int LOOP
        t := duroxide.utc_now(ctx);
    END LOOP;
    RETURN to_jsonb((input->>'calls')::int);
END
$$;

-- input {"remaining": n}: 50 utc_now calls per execution
CREATE FUNCTION public.chunked_now(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    remaining int := (input->>'remaining')::int;
    t timestamptz;
BEGIN
    FOR i IN 1..least(remaining, 50) LOOP
        t := duroxide.utc_now(ctx);
    END LOOP;
    IF remaining > 50 THEN
        PERFORM duroxide.continue_as_new(ctx, jsonb_build_object('remaining', remaining - 50));
    END IF;
    RETURN to_jsonb('done in execution ' || ctx.execution_id);
END
$$;

-- input {"size": n}: a string of n bytes
CREATE FUNCTION public.big(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT to_jsonb(repeat('x', (input->>'size')::int)) $$;

CREATE FUNCTION public.echo(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;

-- 60 sequential activities: 121 events over 61 turns
CREATE FUNCTION public.long_loop(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..60 LOOP
        PERFORM duroxide.call_activity(ctx, 'Echo', to_jsonb(i));
    END LOOP;
    RETURN to_jsonb('looped'::text);
END
$$;

CREATE FUNCTION public.big_output(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT to_jsonb(repeat('y', (input->>'size')::int)) $$;

CREATE FUNCTION public.big_activity_result(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    r := duroxide.call_activity(ctx, 'Big', input);
    RETURN to_jsonb(length(r #>> '{}'));
EXCEPTION WHEN SQLSTATE 'DX001' THEN
    RETURN to_jsonb('caught: ' || SQLERRM);
END
$$;

CREATE FUNCTION public.big_child(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    r := duroxide.call_sub_orchestration(ctx, 'BigOutput', input, ctx.instance_id || '-child');
    RETURN to_jsonb(length(r #>> '{}'));
EXCEPTION WHEN SQLSTATE 'DX002' THEN
    RETURN to_jsonb('caught: ' || SQLERRM);
END
$$;

CREATE FUNCTION public.big_activity_input(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'Echo', to_jsonb(repeat('z', (input->>'size')::int)));
END
$$;

SELECT duroxide.register_activity('Big', 'public.big');
SELECT duroxide.register_activity('Echo', 'public.echo');
SELECT duroxide.register_orchestration('ManyNow', 'public.many_now');
SELECT duroxide.register_orchestration('ChunkedNow', 'public.chunked_now');
SELECT duroxide.register_orchestration('LongLoop', 'public.long_loop');
SELECT duroxide.register_orchestration('BigOutput', 'public.big_output');
SELECT duroxide.register_orchestration('BigActivityResult', 'public.big_activity_result');
SELECT duroxide.register_orchestration('BigChild', 'public.big_child');
SELECT duroxide.register_orchestration('BigActivityInput', 'public.big_activity_input');
});

# the settings as the workers see them (postgresql.conf)
is( $node->safe_psql(
		'postgres',
		q{SELECT current_setting('duroxide.max_history_events') || ' ' ||
		         current_setting('duroxide.max_payload_size')}),
	'100 4kB',
	'max_history_events = 100 and max_payload_size = 4kB');

# start an instance, wait until it is terminal (server side), and return
# "status: output or error"
sub run_to_end
{
	my ($id, $name, $input) = @_;
	$node->safe_psql('postgres',
		"SELECT duroxide.start_orchestration('$id', '$name', '$input')");
	return $node->safe_psql('postgres',
		"SELECT status || ': ' || coalesce(output #>> '{}', error, '<null>')
		   FROM duroxide.wait_for_orchestration('$id', 120000)");
}

# the number of history events of the instance's current execution
sub history_length
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM duroxide.get_history('$id')");
}

# ---------------------------------------------------------------------------
# history

like(
	run_to_end('now-500', 'ManyNow', '{"calls": 500}'),
	qr/^Failed: .*max_history_events.*continue_as_new/,
	'500 utc_now calls in one turn: failed, the error mentions continue_as_new');

like(
	run_to_end('long-loop', 'LongLoop', '{}'),
	qr/^Failed: .*max_history_events.*continue_as_new/,
	'60 sequential activities over 61 turns: failed, the error mentions continue_as_new');
cmp_ok(history_length('long-loop'), '<=', 101,
	'... and its history did not grow past the limit (plus the failure event)');

is(run_to_end('now-98', 'ManyNow', '{"calls": 98}'),
	'Completed: 98', '98 utc_now calls complete');
is(history_length('now-98'), '100', '... with exactly 100 history events');
like(
	run_to_end('now-99', 'ManyNow', '{"calls": 99}'),
	qr/^Failed: .*continue_as_new/,
	'99 utc_now calls (101 events) fail');

is( run_to_end('chunked-500', 'ChunkedNow', '{"remaining": 500}'),
	'Completed: done in execution 10',
	'500 utc_now calls in chunks of 50 with continue_as_new complete in 10 executions');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(DISTINCT execution_id) || ' ' || count(*) || ' ' ||
		         count(*) FILTER (WHERE event_type = 'SystemCall') || ' ' ||
		         count(*) FILTER (WHERE event_type = 'OrchestrationContinuedAsNew')
		    FROM duroxide.history WHERE instance_id = 'chunked-500'}),
	'10 520 500 9',
	'... with 500 recorded calls over 10 executions of 52 events each');

# ---------------------------------------------------------------------------
# payloads

like(
	run_to_end('big-output', 'BigOutput', '{"size": 100000}'),
	qr/^Failed: .*too large/,
	'an orchestration returning 100 kB fails with "too large"');

like(
	run_to_end('big-result', 'BigActivityResult', '{"size": 100000}'),
	qr/^Completed: caught: .*activity "Big" returned a result that is too large/,
	'an activity returning 100 kB fails its task; the orchestration caught DX001');

like(
	run_to_end('big-child', 'BigChild', '{"size": 100000}'),
	qr/^Completed: caught: .*too large/,
	'a child returning 100 kB fails; the parent caught DX002');
like(
	$node->safe_psql(
		'postgres',
		q{SELECT status || ': ' || error FROM duroxide.instances WHERE instance_id = 'big-child-child'}),
	qr/^Failed: .*too large/,
	'... and the child itself failed with "too large"');

like(
	run_to_end('big-input', 'BigActivityInput', '{"size": 100000}'),
	qr/^Failed: .*activity input is too large/,
	'scheduling an activity with a 100 kB input fails the orchestration');

my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT duroxide.start_orchestration('big-start', 'ManyNow',
	                                        jsonb_build_object('calls', 1, 'pad', repeat('p', 100000)))});
isnt($ret, 0, 'start_orchestration with a 100 kB input fails');
like($stderr, qr/too large/, '... with "too large"');
is( $node->safe_psql(
		'postgres',
		q{SELECT status FROM duroxide.get_orchestration_status('big-start')}),
	'NotFound',
	'... and nothing was started');

$node->safe_psql('postgres',
	q{SELECT duroxide.start_orchestration('event-target', 'BigChild', '{"size": 10}')});
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT duroxide.raise_event('event-target', 'e', to_jsonb(repeat('e', 100000)))});
isnt($ret, 0, 'raise_event with 100 kB of data fails');
like($stderr, qr/too large/, '... with "too large"');

# below the limit everything works
is(run_to_end('small-output', 'BigOutput', '{"size": 3000}'),
	'Completed: ' . ('y' x 3000), 'an output of 3 kB is fine');
is(run_to_end('small-result', 'BigActivityResult', '{"size": 3000}'),
	'Completed: 3000', 'an activity result of 3 kB is fine');
is(run_to_end('small-child', 'BigChild', '{"size": 3000}'),
	'Completed: 3000', 'a child output of 3 kB is fine');
is(run_to_end('small-input', 'BigActivityInput', '{"size": 3000}'),
	'Completed: ' . ('z' x 3000), 'an activity input of 3 kB is fine');

queues_empty($node);

$node->stop;
done_testing();
