# Immediate shutdown under load: nothing lost, nothing done twice.
#
# 1,000 orchestrations are in flight when the server is stopped with
# "pg_ctl -m immediate" (no checkpoint, every process killed: the next start
# runs crash recovery) -- twice: once while the fan-outs run and timers are
# being scheduled, once while children run and timers fire.  Each one mixes the durable primitives:
#   - a fan-out: await_all over three activities,
#   - a durable timer of 1 or 2 s,
#   - a sub-orchestration that runs one activity,
#   - an external event "approve"; half of them (the even ones) are raised
#     before the first stop (most before the instance waits for it), the
#     rest after the second restart.
# Every activity inserts a row (instance_id, activity_id) into a table with
# no unique constraint.
#
# After the restart all 1,000 parents and their 1,000 children complete with
# exactly the expected output; there are exactly 2,000 instances; the effects
# table has 4,000 rows, all distinct; each parent's history has one
# TimerFired, one EventRaised, one sub-orchestration and three completed
# activities; the queues are empty.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'immediate_stop',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'log_statement' => 'none');

# activity Work: one row in public.effects, a 2 ms sleep, returns n * 10 + k
define_work($node, sleep => 0.002);

$node->safe_psql(
	'postgres', q{
-- the child: one activity
CREATE FUNCTION public.child(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'Work', jsonb_build_object('n', input->'n', 'k', 4));
END
$$;

-- the parent: fan-out, timer, child, event
CREATE FUNCTION public.mixed(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    n int := (input->>'n')::int;
    fan jsonb;
    child jsonb;
    ev jsonb;
BEGIN
    fan := duroxide.await_all(ARRAY[
        duroxide.schedule_activity(ctx, 'Work', jsonb_build_object('n', n, 'k', 1)),
        duroxide.schedule_activity(ctx, 'Work', jsonb_build_object('n', n, 'k', 2)),
        duroxide.schedule_activity(ctx, 'Work', jsonb_build_object('n', n, 'k', 3))]);
    PERFORM duroxide.sleep(ctx, 1000 + 1000 * (n % 2));
    child := duroxide.call_sub_orchestration(ctx, 'Child', jsonb_build_object('n', n));
    ev := duroxide.wait_for_event(ctx, 'approve');
    RETURN jsonb_build_object('fan', fan, 'child', child, 'event', ev);
END
$$;

SELECT duroxide.register_orchestration('Child', 'public.child');
SELECT duroxide.register_orchestration('Mixed', 'public.mixed');
});

# the output each parent must end with
my $expected_output = q{jsonb_build_object(
    'fan', jsonb_build_array(n * 10 + 1, n * 10 + 2, n * 10 + 3),
    'child', n * 10 + 4,
    'event', jsonb_build_object('n', n))};

# the parents, with their number
my $parents = q{(SELECT i.*, (i.input->>'n')::int AS n FROM duroxide.instances i
                  WHERE i.orchestration_name = 'Mixed') p};

# raise "approve" for the parents selected by a condition on n
sub raise_events
{
	my ($cond) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(duroxide.raise_event(instance_id, 'approve', jsonb_build_object('n', n)))
		   FROM $parents WHERE $cond");
}

# 1,000 instances, started in one transaction
is( $node->safe_psql(
		'postgres',
		q{SELECT count(duroxide.start_orchestration(format('m%s', lpad(i::text, 4, '0')), 'Mixed',
		                                              jsonb_build_object('n', i)))
		    FROM generate_series(1, 1000) i}),
	'1000',
	'1,000 orchestrations started');

# what is in flight right now
sub in_flight
{
	return $node->safe_psql(
		'postgres',
		q{SELECT (SELECT count(*) FROM duroxide.instances WHERE status = 'Running') || ' running, ' ||
		         (SELECT count(*) FROM duroxide.instances WHERE parent_instance_id IS NOT NULL) || ' children, ' ||
		         q.orchestrator_queue || ' messages, ' || q.worker_queue || ' activities, ' ||
		         q.timer_queue || ' timers queued, ' ||
		         (SELECT count(*) FROM public.effects) || ' effects'
		    FROM duroxide.get_queue_depths() q});
}

# the odd parents cannot finish before their event is raised after the stops
my $odd_running = "SELECT count(*) FROM $parents WHERE n % 2 = 1 AND status = 'Running'";

# first stop: during the fan-outs, timers being scheduled
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) >= 100 FROM duroxide.history WHERE event_type = 'TimerCreated'}),
	'timers are being scheduled');
is(raise_events('n % 2 = 0'), '500', 'half of the events raised before the first stop');
note('in flight at the first stop: ' . in_flight());
is($node->safe_psql('postgres', $odd_running), '500', 'first stop: the odd parents are running');
$node->stop('immediate');
$node->start;

# second stop: children running, timers pending and firing
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) >= 300 FROM duroxide.instances WHERE parent_instance_id IS NOT NULL}),
	'sub-orchestrations are being started');
note('in flight at the second stop: ' . in_flight());
is($node->safe_psql('postgres', $odd_running), '500', 'second stop: the odd parents are running');
$node->stop('immediate');
$node->start;

# the rest of the events, after the restart
is(raise_events('n % 2 = 1'), '500', 'the other half of the events raised after the restart');

wait_all_terminal($node);

assert_completed($node, '1000', 'all 1,000 parents completed with the right output',
	from => $parents,
	output => $expected_output);

is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) || ' ' ||
		         count(*) FILTER (WHERE parent_instance_id IS NOT NULL) || ' ' ||
		         count(DISTINCT parent_instance_id) || ' ' ||
		         count(*) FILTER (WHERE parent_instance_id IS NOT NULL AND status = 'Completed'
		                           AND output = to_jsonb((input->>'n')::int * 10 + 4))
		    FROM duroxide.instances}),
	'2000 1000 1000 1000',
	'2,000 instances: one completed child per parent, no duplicate');

assert_effects_once($node, '4000',
	'every activity effect applied exactly once (4,000 rows, all distinct)');

assert_history_each(
	$node, '1000',
	'history: each parent has one timer fired, one event, one child and three activities',
	where => q{instance_id IN (SELECT instance_id FROM duroxide.instances
	                             WHERE orchestration_name = 'Mixed')},
	events => [
		TimerCreated => 1,
		TimerFired => 1,
		EventRaised => 1,
		SubOrchestrationScheduled => 1,
		SubOrchestrationCompleted => 1,
		ActivityScheduled => 3,
		ActivityCompleted => 3,
		OrchestrationCompleted => 1
	]);

queues_empty($node);

$node->stop;
done_testing();
