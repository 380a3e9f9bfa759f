# Poison messages: work that kills its process is given up after
# duroxide.max_attempts deliveries, and everything else carries on.
#
# With duroxide.max_attempts = 3 and restart_after_crash = on:
#   (a) an activity that kills its own backend with SIGKILL (COPY ... TO
#       PROGRAM 'kill -9 <own pid>', registered by the superuser) takes the
#       whole server through crash recovery on each delivery; after 3
#       deliveries the attempt is failed as poison, and the orchestration,
#       which catches DX001, completes with the poison message;
#   (b) an activity that never returns (pg_sleep(3600)), called with
#       call_activity_with_retry {"maxAttempts": 2, "timeoutMs": 500,
#       "backoff": "none"}, fails with the timeout message after two attempts;
#   (c) an orchestration whose own code kills its backend the same way is
#       failed as poison (status Failed, error mentions poison);
#   (d) 50 ordinary orchestrations started in the same transaction (two
#       activities with a database side effect around a short timer) all
#       complete with the right output, their effects applied exactly once
#       (run twice: 50 alongside (a) and (b), 50 alongside (c)).
# The crashing activity and orchestration each run at most max_attempts
# times (counted in the server log), and the engine serves new work after.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'poison',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'duroxide.max_attempts' => 3,
	'restart_after_crash' => 'on',
	'log_statement' => 'none');

# (d) activity Work: one row in public.effects, returns n * 10 + k
define_work($node);

$node->safe_psql(
	'postgres', q{
-- (a) an activity that kills its own process
CREATE FUNCTION public.crash(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'kill -9 ' || pg_backend_pid());
    RETURN to_jsonb('survived'::text);
END
$$;

CREATE FUNCTION public.catch_poison(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'Crash', input);
EXCEPTION WHEN SQLSTATE 'DX001' THEN
    RETURN to_jsonb('caught: ' || SQLERRM);
END
$$;

-- (b) an activity that never returns, called with a per-attempt timeout
CREATE FUNCTION public.hang(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(3600);
    RETURN to_jsonb('woke up'::text);
END
$$;

CREATE FUNCTION public.call_hang(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity_with_retry(ctx, 'Hang', input,
        '{"maxAttempts": 2, "timeoutMs": 500, "backoff": "none"}');
EXCEPTION WHEN SQLSTATE 'DX001' THEN
    RETURN to_jsonb('caught: ' || SQLERRM);
END
$$;

-- (c) an orchestration that kills its own process
CREATE FUNCTION public.crash_orchestration(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'kill -9 ' || pg_backend_pid());
    RETURN to_jsonb('survived'::text);
END
$$;

-- (d) ordinary work
CREATE FUNCTION public.ordinary(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a jsonb;
    b jsonb;
BEGIN
    a := duroxide.call_activity(ctx, 'Work', jsonb_build_object('n', input->'n', 'k', 1));
    PERFORM duroxide.sleep(ctx, 300);
    b := duroxide.call_activity(ctx, 'Work', jsonb_build_object('n', input->'n', 'k', 2));
    RETURN jsonb_build_array(a, b);
END
$$;

SELECT duroxide.register_activity('Crash', 'public.crash');
SELECT duroxide.register_activity('Hang', 'public.hang');
SELECT duroxide.register_orchestration('CatchPoison', 'public.catch_poison');
SELECT duroxide.register_orchestration('CallHang', 'public.call_hang');
SELECT duroxide.register_orchestration('CrashOrchestration', 'public.crash_orchestration');
SELECT duroxide.register_orchestration('Ordinary', 'public.ordinary');
});

workers_up($node, 2, 2, 'at start');

# the status of an instance as "status: output or error"
sub outcome
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || ': ' || coalesce(output #>> '{}', error, '<null>')
		   FROM duroxide.instances WHERE instance_id = '$id'");
}

# start 50 ordinary orchestrations prefixed $prefix with the given
# instances, in one transaction, and wait until nothing runs any more
sub run_alongside
{
	my ($prefix, $starts, $what) = @_;
	$node->safe_psql(
		'postgres', qq{
BEGIN;
$starts
SELECT count(duroxide.start_orchestration(format('$prefix%s', lpad(i::text, 2, '0')), 'Ordinary',
                                           jsonb_build_object('n', i)))
  FROM generate_series(1, 50) i;
COMMIT;
});
	# through the crash restarts
	wait_all_terminal($node, "$what: no instance is running any more");
}

# the 50 ordinary orchestrations of a prefix all completed, exactly once
sub ordinary_completed
{
	my ($prefix, $what) = @_;
	assert_completed($node, '50',
		"$what: the 50 ordinary orchestrations completed with the right output",
		where => "instance_id LIKE '$prefix%'",
		output => q{jsonb_build_array((input->>'n')::int * 10 + 1, (input->>'n')::int * 10 + 2)});
	assert_effects_once($node, '100',
		"$what: their effects were applied exactly once (100 rows, all distinct)",
		where => "instance_id LIKE '$prefix%'");
}

# the number of SIGKILL deaths of a kind of worker in the log since $offset
sub sigkills
{
	my ($kind, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my $n = () = $log =~ /"duroxide $kind" \(PID \d+\) was terminated by signal 9/g;
	return $n;
}

# ---------------------------------------------------------------------------
# (a), (b) and (d): a crashing activity and a hanging one, alongside 50

my $log_offset = -s $node->logfile;
run_alongside(
	'ok-a-', q{
SELECT duroxide.start_orchestration('poison-activity', 'CatchPoison');
SELECT duroxide.start_orchestration('hang', 'CallHang');
}, 'activities');

like(
	outcome('poison-activity'),
	qr/^Completed: caught: poison: activity "Crash" was delivered 3 times without completing/,
	'(a) the crashing activity failed as poison and the orchestration caught DX001');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FILTER (WHERE event_type = 'ActivityFailed') || ' ' ||
		         count(*) FILTER (WHERE event_type = 'ActivityCompleted')
		    FROM duroxide.get_history('poison-activity')}),
	'1 0',
	'(a) history: one failed activity');
my $crashes = sigkills('activity worker', $log_offset);
ok($crashes >= 1 && $crashes <= 3,
	"(a) the crashing activity ran at most 3 times ($crashes)");

is( outcome('hang'),
	'Completed: caught: activity "Hang" timed out after 500 ms',
	'(b) the hanging activity timed out twice and the orchestration caught DX001');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FILTER (WHERE event_type = 'ActivityAttemptFailed') || ' ' ||
		         count(*) FILTER (WHERE event_type = 'ActivityFailed')
		    FROM duroxide.get_history('hang')}),
	'1 1',
	'(b) history: one failed attempt, then the failure');

ordinary_completed('ok-a-', '(d) alongside the crashing activity');

# ---------------------------------------------------------------------------
# (c) and (d): a crashing orchestration, alongside 50

$log_offset = -s $node->logfile;
run_alongside(
	'ok-c-', q{
SELECT duroxide.start_orchestration('poison-orchestration', 'CrashOrchestration');
}, 'orchestration');

like(
	outcome('poison-orchestration'),
	qr/^Failed: poison: a turn of this orchestration was started 3 times/,
	'(c) the crashing orchestration failed as poison');
$crashes = sigkills('dispatcher', $log_offset);
ok($crashes >= 1 && $crashes <= 3,
	"(c) the crashing orchestration ran at most 3 times ($crashes)");

ordinary_completed('ok-c-', '(d) alongside the crashing orchestration');

# and the engine still serves new work
$node->safe_psql('postgres',
	q{SELECT duroxide.start_orchestration('after', 'Ordinary', '{"n": 99}')});
is( $node->safe_psql(
		'postgres',
		q{SELECT status || ' ' || output::text FROM duroxide.wait_for_orchestration('after', 60000)}),
	'Completed [991, 992]',
	'a new orchestration completes after the poison');

queues_empty($node);

$node->stop;
done_testing();
