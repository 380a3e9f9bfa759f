# A slot of a limited activity held by a crashed worker is freed, not leaked.
#
# Activity "Limited" has set_activity_concurrency 1; an instance fans out
# three attempts of it.  Each attempt first waits for advisory lock 4701,
# which the test holds, so the first attempt blocks inside the activity
# while holding the only slot: exactly one attempt is claimed, and one
# activity worker waits on the lock, although two workers run.  That worker
# is killed with SIGKILL (the postmaster restarts every process: a new boot,
# and the test's lock is gone with its session).  After the restart the
# killed attempt is a suspect (delivered once, no result) and the other two
# are new: all three run, one at a time (each counts the holders of the
# shared advisory lock 4702 that every attempt holds while its body runs:
# always 1), and the instance completes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'limit_crash',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'duroxide.batch_size' => 1,
	'restart_after_crash' => 'on');

$node->safe_psql(
	'postgres', q{
CREATE TABLE public.runs (k text PRIMARY KEY, attempt integer, seen bigint);
CREATE FUNCTION public.limited(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock_shared(4702);
    PERFORM pg_advisory_xact_lock_shared(4701);
    INSERT INTO public.runs VALUES (input->>'k', ctx.attempt,
        (SELECT count(*) FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 4702 AND l.granted));
    PERFORM pg_advisory_unlock_shared(4702);
    RETURN input->'k';
END $$;
CREATE FUNCTION public.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.await_all(ARRAY[duroxide.schedule_activity(ctx, 'Limited', '{"k": "a"}'),
                                    duroxide.schedule_activity(ctx, 'Limited', '{"k": "b"}'),
                                    duroxide.schedule_activity(ctx, 'Limited', '{"k": "c"}')]);
END $$;
SELECT duroxide.register_activity('Limited', 'public.limited');
SELECT duroxide.register_orchestration('Fan', 'public.fan');
SELECT duroxide.set_activity_concurrency('Limited', 1);
});

workers_up($node, 2, 2, 'at start');

my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(4701)');
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('lc-1', 'Fan')});

my $blocked = q{SELECT a.pid FROM pg_stat_activity a JOIN duroxide.workers w ON w.pid = a.pid
   WHERE w.kind = 'activity worker' AND a.wait_event_type = 'Lock' AND a.wait_event = 'advisory'};
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($blocked) b"),
	'an activity worker is blocked inside the limited activity');
my $pid = $node->safe_psql('postgres', $blocked);
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FILTER (WHERE claim_boot IS NOT NULL) || ' of ' || count(*)
		    FROM duroxide.worker_queue WHERE instance_id = 'lc-1'}),
	'1 of 3',
	'only one attempt is claimed (the limit), the other two wait');

my $offset = -s $node->logfile;
is(kill('KILL', $pid), 1, "activity worker $pid sent SIGKILL");
ok($node->wait_for_log(qr/\(PID $pid\) was terminated by signal 9/, $offset),
	'the postmaster saw the worker die of SIGKILL');
ok($node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset),
	'the postmaster reinitialised (crash restart)');
eval { $gate->quit; };
workers_up($node, 2, 2, 'after the crash restart');

ok( $node->poll_query_until(
		'postgres',
		q{SELECT status FROM duroxide.instances WHERE instance_id = 'lc-1'}, 'Completed'),
	'the instance completes after the crash');
is($node->safe_psql('postgres', q{SELECT output FROM duroxide.instances WHERE instance_id = 'lc-1'}),
	'["a", "b", "c"]', 'all three attempts returned their results');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || max(seen) FROM public.runs}),
	'3 1', 'three attempts recorded, never two at once');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM duroxide.get_history('lc-1') WHERE event_type = 'ActivityCompleted'}),
	'3', 'history records three completed attempts');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM duroxide.worker_queue}),
	'0', 'no attempt is left in the queue (no slot leaked)');

# the slot is free for new work too
$node->safe_psql('postgres',
	q{TRUNCATE public.runs; SELECT duroxide.start_orchestration('lc-2', 'Fan')});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT status FROM duroxide.instances WHERE instance_id = 'lc-2'}, 'Completed'),
	'a new instance of the limited activity completes');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || max(seen) FROM public.runs}),
	'3 1', 'its three attempts ran one at a time');

$node->stop;
done_testing();
