# A fast shutdown under load is clean and loses nothing.
#
# About 300 orchestrations run -- 150 fan-outs (await_all over four
# activities) and 150 chains (three sequential activities), every activity
# inserting a row into a table without a unique constraint -- plus one
# instance whose activity sleeps in a loop until the test releases it (so an
# activity worker is certainly inside an activity).  While they run, the
# server is stopped with "pg_ctl -m fast": it returns promptly (the workers
# end on SIGTERM even inside an activity), and pg_controldata reports
# "Database cluster state: shut down" (a clean shutdown, no crash recovery
# needed).  After the restart every instance completes with the right output
# and every activity effect is applied exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'clean_shutdown',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'log_statement' => 'none');

# activity Work: one row in public.effects, a few ms of work (5 ms sleep),
# returns n * 10 + k
define_work($node, sleep => 0.005);

$node->safe_psql(
	'postgres', q{
CREATE TABLE public.released (released boolean);

-- sleeps until public.released has a row
CREATE FUNCTION public.wait_release(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.effects VALUES (ctx.instance_id, ctx.activity_id);
    WHILE NOT EXISTS (SELECT 1 FROM public.released) LOOP
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN to_jsonb('released'::text);
END
$$;

CREATE FUNCTION public.fan_out(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[];
BEGIN
    FOR k IN 1..4 LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'Work', jsonb_build_object('n', input->'n', 'k', k));
    END LOOP;
    RETURN duroxide.await_all(tasks);
END
$$;

CREATE FUNCTION public.chain(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    acc jsonb := '[]';
BEGIN
    FOR k IN 1..3 LOOP
        acc := acc || jsonb_build_array(
            duroxide.call_activity(ctx, 'Work', jsonb_build_object('n', input->'n', 'k', k)));
    END LOOP;
    RETURN acc;
END
$$;

CREATE FUNCTION public.stuck(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'WaitRelease');
END
$$;

SELECT duroxide.register_activity('WaitRelease', 'public.wait_release');
SELECT duroxide.register_orchestration('FanOut', 'public.fan_out');
SELECT duroxide.register_orchestration('Chain', 'public.chain');
SELECT duroxide.register_orchestration('Stuck', 'public.stuck');
});

workers_up($node, 2, 2, 'at start');

# the stuck instance first, then 150 fan-outs and 150 chains
$node->safe_psql('postgres',
	q{SELECT duroxide.start_orchestration('stuck', 'Stuck')});
$node->safe_psql(
	'postgres', q{
SELECT count(duroxide.start_orchestration(format('fan-%s', i), 'FanOut', jsonb_build_object('n', i)))
  FROM generate_series(1, 150) i;
SELECT count(duroxide.start_orchestration(format('chain-%s', i), 'Chain', jsonb_build_object('n', i)))
  FROM generate_series(1, 150) i;
});

# an activity worker is inside the stuck activity
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) > 0 FROM pg_stat_activity
		   WHERE backend_type = 'duroxide activity worker' AND wait_event = 'PgSleep'
		     AND EXISTS (SELECT 1 FROM duroxide.workers w
		                  WHERE w.pid = pg_stat_activity.pid AND w.instance_id = 'stuck')}),
	'an activity worker is inside the stuck activity');
# and the others have made some progress
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) >= 300 FROM public.effects}),
	'300 activity effects are committed');
my $inflight = $node->safe_psql(
	'postgres',
	q{SELECT (SELECT count(*) FROM duroxide.instances WHERE status = 'Running') || ' running, ' ||
	         q.orchestrator_queue || ' messages, ' || q.worker_queue || ' activities queued, ' ||
	         (SELECT count(*) FROM public.effects) || ' effects'
	    FROM duroxide.get_queue_depths() q});
note("in flight at the stop: $inflight");
unlike($inflight, qr/^0 running/, 'instances are running at the stop');

my $start = time;
$node->stop('fast');
my $elapsed = time - $start;
note(sprintf('fast shutdown took %.1f s', $elapsed));
cmp_ok($elapsed, '<', 30, 'the fast shutdown returned promptly');

command_like(
	[ 'pg_controldata', $node->data_dir ],
	qr/Database cluster state:\s+shut down\n/,
	'pg_controldata: the cluster was shut down cleanly');
ok(!$node->log_contains(qr/terminated by signal|server process .* was terminated/),
	'no process died of a signal');

$node->start;
workers_up($node, 2, 2, 'after the restart');
$node->safe_psql('postgres', 'INSERT INTO public.released VALUES (true)');

wait_all_terminal($node);

is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FILTER (WHERE instance_id LIKE 'fan-%' AND output =
		             (SELECT jsonb_agg((input->>'n')::int * 10 + k ORDER BY k) FROM generate_series(1, 4) k)) || ' ' ||
		         count(*) FILTER (WHERE instance_id LIKE 'chain-%' AND output =
		             (SELECT jsonb_agg((input->>'n')::int * 10 + k ORDER BY k) FROM generate_series(1, 3) k)) || ' ' ||
		         count(*) FILTER (WHERE instance_id = 'stuck' AND output = '"released"')
		    FROM duroxide.instances WHERE status = 'Completed'}),
	'150 150 1',
	'all 301 instances completed with the right output')
  or diag(instance_summary($node, "status <> 'Completed'"));

assert_effects_once($node, '1051',
	'every activity effect applied exactly once (150 * 4 + 150 * 3 + 1 rows, all distinct)');

queues_empty($node);

$node->stop;
done_testing();
