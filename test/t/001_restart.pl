# Durable state survives restarts.
#
# Instances in flight when the server goes down -- an orchestration waiting
# on a durable timer, one whose activity may be queued or running -- finish
# after the restart with the right output.  The timer fires exactly once
# (one TimerFired in history), and the activity's own table write is applied
# exactly once.  Both an immediate shutdown (crash: no checkpoint, no clean
# exit of the workers) and a clean fast restart are covered.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node('restart');

# the hello workflow of examples/hello.sql, whose activity also records each
# run in public.hello_effects (to prove it is applied once), and a workflow
# that sleeps on a durable timer
define_hello($node, effects => 1);
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.sleepy_workflow(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.sleep(ctx, 3000);
    RETURN to_jsonb('woke'::text);
END
$$;

SELECT duroxide.register_orchestration('SleepyWorkflow', 'public.sleepy_workflow');
});

# the status of an instance, or '' if it does not exist
sub status_of
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT status FROM duroxide.instances WHERE instance_id = '$id'");
}

# poll until an instance is terminal, then check status and output (as text)
sub completes_with
{
	my ($id, $output, $what) = @_;
	my $done = $node->poll_query_until('postgres',
		"SELECT status <> 'Running' FROM duroxide.get_orchestration_status('$id')"
	);
	ok($done, "$what: $id reaches a terminal state")
	  or diag("status: " . status_of($id));
	is( $node->safe_psql(
			'postgres',
			"SELECT status || ' ' || coalesce(output #>> '{}', '<null>') || coalesce(' error: ' || error, '')
			   FROM duroxide.get_orchestration_status('$id')"),
		"Completed $output",
		"$what: $id completed with output $output");
}

# the number of history events of a type in an instance's current execution
sub history_count
{
	my ($id, $type) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM duroxide.get_history('$id') WHERE event_type = '$type'"
	);
}

# wait until the instance's durable timer is scheduled (TimerCreated is in its
# history, committed with the turn that created the timer)
sub timer_scheduled
{
	my ($id, $what) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) > 0 FROM duroxide.get_history('$id') WHERE event_type = 'TimerCreated'"
		),
		"$what: the durable timer of $id is scheduled");
}

# ---------------------------------------------------------------------------
# immediate shutdown (crash) with a pending timer and a just-started instance

$node->safe_psql('postgres',
	"SELECT duroxide.start_orchestration('sleeper-crash', 'SleepyWorkflow')");
timer_scheduled('sleeper-crash', 'crash');

# start the hello instance and go down at once: its start or its activity is
# most likely still in a queue when the server crashes
$node->safe_psql('postgres',
	q{SELECT duroxide.start_orchestration('before-restart', 'HelloWorkflow', '{"name": "World"}')}
);
$node->stop('immediate');
$node->start;

completes_with('before-restart', 'Hello, World!', 'crash');
completes_with('sleeper-crash', 'woke', 'crash');
is(history_count('sleeper-crash', 'TimerFired'),
	'1', 'crash: the timer of sleeper-crash fired exactly once');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM public.hello_effects WHERE instance_id = 'before-restart'"
	),
	'1',
	'crash: the activity of before-restart was applied exactly once');

# ---------------------------------------------------------------------------
# clean restart (fast shutdown) with a pending timer

$node->safe_psql('postgres',
	"SELECT duroxide.start_orchestration('sleeper-clean', 'SleepyWorkflow')");
timer_scheduled('sleeper-clean', 'clean restart');
$node->restart;

completes_with('sleeper-clean', 'woke', 'clean restart');
is(history_count('sleeper-clean', 'TimerFired'),
	'1', 'clean restart: the timer of sleeper-clean fired exactly once');

# and the engine still serves new work after both restarts
$node->safe_psql('postgres',
	q{SELECT duroxide.start_orchestration('after-restart', 'HelloWorkflow', '{"name": "again"}')}
);
is( $node->safe_psql(
		'postgres',
		"SELECT output #>> '{}' FROM duroxide.wait_for_orchestration('after-restart', 60000)"),
	'Hello, again!',
	'after restarts: a new instance completes');

# nothing is left in the queues
queues_empty($node);

$node->stop;
done_testing();
