# Workers never run on a standby; after promotion they start and carry on.
#
# A primary with duroxide preloaded streams to a standby made from a base
# backup.  On the primary, 20 orchestrations wait on a 3 s durable timer and
# 20 wait for an external event; each then runs an activity that writes a
# row.  Once the standby has replayed their first turns, it runs no duroxide
# process (no launcher, dispatcher or activity worker in pg_stat_activity,
# duroxide.workers is empty) and refuses to start an orchestration, while it
# shows the replicated instances.  The primary is stopped and the standby
# promoted: the launcher and its workers start, the events are raised on the
# new primary, and every instance completes with the right output; each
# timer fired exactly once and each activity wrote exactly one row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $primary = new_node(
	'primary',
	{ allows_streaming => 1 },
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'shared_buffers' => '16MB',
	'max_connections' => 20,
	'log_statement' => 'none');

create_effects($primary);
$primary->safe_psql(
	'postgres', q{
CREATE FUNCTION public.record(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.effects VALUES (ctx.instance_id, ctx.activity_id);
    RETURN to_jsonb('recorded ' || (input #>> '{}'));
END
$$;

CREATE FUNCTION public.timer_workflow(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.sleep(ctx, 3000);
    RETURN duroxide.call_activity(ctx, 'Record', to_jsonb(ctx.instance_id));
END
$$;

CREATE FUNCTION public.event_workflow(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'Record', duroxide.wait_for_event(ctx, 'go'));
END
$$;

SELECT duroxide.register_activity('Record', 'public.record');
SELECT duroxide.register_orchestration('TimerWorkflow', 'public.timer_workflow');
SELECT duroxide.register_orchestration('EventWorkflow', 'public.event_workflow');
});

workers_up($primary, 2, 2, 'primary');

# the standby, from a base backup
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# 20 timer and 20 event instances
$primary->safe_psql(
	'postgres', q{
SELECT count(duroxide.start_orchestration(format('timer-%s', i), 'TimerWorkflow')) FROM generate_series(1, 20) i;
SELECT count(duroxide.start_orchestration(format('event-%s', i), 'EventWorkflow')) FROM generate_series(1, 20) i;
});
ok( $primary->poll_query_until(
		'postgres',
		q{SELECT count(*) FILTER (WHERE event_type = 'TimerCreated') || ' ' ||
		         count(*) FILTER (WHERE event_type = 'EventSubscribed')
		    FROM duroxide.history},
		'20 20'),
	'primary: the 20 timers are scheduled and the 20 event waits subscribed');
$primary->wait_for_catchup($standby);

# the standby shows the instances, waiting, and runs no engine process
is( $standby->safe_psql(
		'postgres',
		q{SELECT count(*) FILTER (WHERE status = 'Running') || ' ' ||
		         (SELECT count(*) FROM duroxide.history WHERE event_type = 'TimerFired')
		    FROM duroxide.instances}),
	'40 0',
	'standby: the 40 instances are replicated, running, their timers not yet fired');
is(worker_counts($standby),
	'0 0 0', 'standby: no duroxide launcher, dispatcher or activity worker runs');
is( $standby->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'duroxide%'}),
	'0',
	'standby: no process of a duroxide backend type at all');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM duroxide.workers'),
	'0', 'standby: duroxide.workers is empty');
ok(!$standby->log_contains(qr/duroxide launcher: starting/),
	'standby: the log shows no launcher start');
my ($ret, $stdout, $stderr) = $standby->psql('postgres',
	q{SELECT duroxide.start_orchestration('on-standby', 'TimerWorkflow')});
isnt($ret, 0, 'standby: starting an orchestration fails');
like($stderr, qr/read-only transaction/, 'standby: ... because it is read-only');

# fail over
$primary->stop;
$standby->promote;
workers_up($standby, 2, 2, 'promoted');
ok($standby->log_contains(qr/duroxide launcher: starting 2 dispatchers and 2 activity workers/),
	'promoted: the log shows the launcher starting the workers');

is( $standby->safe_psql(
		'postgres',
		q{SELECT count(duroxide.raise_event(format('event-%s', i), 'go', to_jsonb(i)))
		    FROM generate_series(1, 20) i}),
	'20',
	'promoted: the events are raised on the new primary');

wait_all_terminal($standby, 'promoted: no instance is running any more');

assert_completed(
	$standby, '40',
	'promoted: all 40 instances completed with the right output',
	output => q{to_jsonb('recorded ' ||
	                     CASE WHEN instance_id LIKE 'timer-%' THEN instance_id
	                          ELSE substr(instance_id, 7) END)});

assert_history_each($standby, '20', 'promoted: each timer fired exactly once',
	where => q{instance_id LIKE 'timer-%'},
	events => [ TimerFired => 1 ]);
assert_history_each($standby, '20', 'promoted: each event was received exactly once',
	where => q{instance_id LIKE 'event-%'},
	events => [ EventRaised => 1 ]);
assert_effects_once($standby, '40', 'promoted: each activity wrote exactly one row',
	also_distinct => ['instance_id']);

queues_empty($standby, 'promoted: the queues are empty at the end');

$standby->stop;
done_testing();
