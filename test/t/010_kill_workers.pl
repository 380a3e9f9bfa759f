# kill -9 of engine processes in the middle of their work.
#
# 200 orchestrations each run three sequential activities; every activity
# inserts one row (instance_id, activity_id, step) into a table that has no
# unique constraint, so a duplicate would show up rather than fail.  While
# they run:
#   1. a dispatcher is killed with SIGKILL in the middle of a turn: the test
#      holds advisory lock 4243, and the orchestration code of 20 "turn-gated"
#      instances takes it (shared) after their first activity, so the
#      dispatcher that runs that turn blocks inside it -- visible in
#      pg_stat_activity as an advisory-lock wait of a dispatcher, with the
#      other turns of its batch run but not committed;
#   2. after the crash restart, an activity worker is killed while it is
#      inside an activity: 20 "activity-gated" instances wait for an event
#      "go"; the test takes advisory lock 4242, raises "go", and the second
#      activity of those instances blocks on that lock after its INSERT;
#   3. then 40 more instances, 20 activity-gated and then 20 turn-gated,
#      block an activity worker and then a dispatcher again, and each is
#      terminated with pg_terminate_backend (SIGTERM: no crash restart); the
#      launcher starts a replacement, which releases the claims left on its
#      slot by the terminated process (same shared-memory lifetime).
# A SIGKILL of any backend makes the postmaster terminate every process and
# reinitialise (restart_after_crash); the test waits for the log line and
# for the launcher, dispatchers and activity workers to be back.
#
# Then all 240 instances complete with the right output, the effects table
# holds exactly one row per (instance, activity) -- 720 rows, 720 distinct --
# history has exactly 3 scheduled and 3 completed activities per instance,
# and the queues are empty.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'kill_workers',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2,
	'restart_after_crash' => 'on',
	'log_statement' => 'none');

$node->safe_psql(
	'postgres', q{
CREATE TABLE public.effects (
    instance_id text NOT NULL,
    activity_id bigint NOT NULL,
    step integer NOT NULL
);

-- one step of a chain: a database side effect, a few ms of work, and for
-- the second step of a gated instance a wait on advisory lock 4242
CREATE FUNCTION public.step(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.effects VALUES (ctx.instance_id, ctx.activity_id, (input->>'step')::int);
    PERFORM pg_sleep(0.005);
    IF (input->>'gated')::boolean AND (input->>'step')::int = 2 THEN
        PERFORM pg_advisory_xact_lock_shared(4242);
    END IF;
    RETURN to_jsonb((input->>'acc') || ':' || (input->>'step'));
END
$$;

-- three sequential activities; an activity-gated instance first waits for
-- "go", a turn-gated one takes advisory lock 4243 in each turn after its
-- first activity (immediate unless the test holds the lock)
CREATE FUNCTION public.chain(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    acc jsonb := to_jsonb(ctx.instance_id);
    gated boolean := coalesce((input->>'gated')::boolean, false);
BEGIN
    IF gated THEN
        PERFORM duroxide.wait_for_event(ctx, 'go');
    END IF;
    FOR s IN 1..3 LOOP
        acc := duroxide.call_activity(ctx, 'Step',
                   jsonb_build_object('step', s, 'acc', acc, 'gated', gated));
        IF s = 1 AND (input->>'turn_gated')::boolean THEN
            PERFORM pg_advisory_xact_lock_shared(4243);
        END IF;
    END LOOP;
    RETURN acc;
END
$$;

SELECT duroxide.register_activity('Step', 'public.step');
SELECT duroxide.register_orchestration('Chain', 'public.chain');
});

# wait until the postmaster has reinitialised after a crash and the engine is back
sub crash_recovered
{
	my ($offset, $killed, $what) = @_;
	ok( $node->wait_for_log(
			qr/\(PID $killed\) was terminated by signal 9/, $offset),
		"$what: the postmaster saw process $killed die of SIGKILL");
	ok( $node->wait_for_log(
			qr/all server processes terminated; reinitializing/, $offset),
		"$what: the postmaster reinitialised (crash restart)");
	workers_up($node, 2, 2, $what);
}

# the query for the pid of a process of a kind ('dispatcher', 'activity
# worker') that waits on an advisory lock
sub blocked_sql
{
	my ($kind) = @_;
	return qq{SELECT a.pid FROM pg_stat_activity a JOIN duroxide.workers w ON w.pid = a.pid
   WHERE w.kind = '$kind' AND a.wait_event_type = 'Lock' AND a.wait_event = 'advisory'
   LIMIT 1};
}

workers_up($node, 2, 2, 'at start');

# ---------------------------------------------------------------------------
# 1. kill -9 a dispatcher in the middle of a turn

my $turn_gate = $node->background_psql('postgres');
$turn_gate->query_safe('SELECT pg_advisory_lock(4243)');

# 200 instances in one transaction: k161..k180 are turn-gated, k181..k200
# activity-gated
$node->safe_psql('postgres',
	q{SELECT count(duroxide.start_orchestration(format('k%s', lpad(i::text, 3, '0')), 'Chain',
	                                        jsonb_build_object('turn_gated', i BETWEEN 161 AND 180,
	                                                           'gated', i > 180)))
	    FROM generate_series(1, 200) i});

my $blocked_dispatcher = blocked_sql('dispatcher');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) > 0 FROM ($blocked_dispatcher) b"),
	'a dispatcher is blocked inside a turn');
my $pid = $node->safe_psql('postgres', $blocked_dispatcher);
like(
	$node->safe_psql(
		'postgres',
		"SELECT state || ' ' || instance_id FROM duroxide.workers WHERE pid = $pid"),
	qr/^busy k1(6[1-9]|7[0-9]|80)$/,
	'duroxide.workers shows the dispatcher busy with a turn-gated instance');
my $running = $node->safe_psql('postgres',
	q{SELECT count(*) FROM duroxide.instances WHERE status = 'Running'});
cmp_ok($running, '>', 0,
	"instances are in flight when the dispatcher is killed ($running running)");

my $offset = -s $node->logfile;
is(kill('KILL', $pid), 1, "dispatcher $pid sent SIGKILL");
crash_recovered($offset, $pid, 'dispatcher kill');
# the gate session was terminated by the crash restart too
eval { $turn_gate->quit; };

# ---------------------------------------------------------------------------
# 2. kill -9 an activity worker inside an activity

my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(4242)');
$node->safe_psql('postgres',
	q{SELECT count(duroxide.raise_event(instance_id, 'go'))
	    FROM duroxide.instances WHERE (input->>'gated')::boolean});

my $blocked_worker = blocked_sql('activity worker');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) > 0 FROM ($blocked_worker) b"),
	'an activity worker is blocked inside an activity');
$pid = $node->safe_psql('postgres', $blocked_worker);
$running = $node->safe_psql('postgres',
	q{SELECT count(*) FROM duroxide.instances WHERE status = 'Running'});
cmp_ok($running, '>', 0,
	"instances are in flight when the activity worker is killed ($running running)");

$offset = -s $node->logfile;
is(kill('KILL', $pid), 1, "activity worker $pid sent SIGKILL");
crash_recovered($offset, $pid, 'activity worker kill');
# the gate session was terminated by the crash restart too
eval { $gate->quit; };

# ---------------------------------------------------------------------------
# 3. SIGTERM (pg_terminate_backend, not a crash) of a dispatcher blocked in a
#    turn and of an activity worker blocked in an activity: no crash restart;
#    the terminated processes return their claims uncounted as they exit
#    (src/worker.c), and the launcher starts replacements

my $gates = $node->background_psql('postgres');

# terminate the blocked process of a kind, and check its replacement
sub terminate_blocked
{
	my ($kind, $blocked_sql) = @_;
	ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM ($blocked_sql) b"),
		"SIGTERM: one $kind is blocked");
	my $pid = $node->safe_psql('postgres', $blocked_sql);
	my $offset = -s $node->logfile;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"),
		't', "SIGTERM: $kind $pid terminated");
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 4 AND bool_and(pid <> $pid) FROM duroxide.workers"),
		"SIGTERM: the launcher replaced the $kind");
	ok($node->wait_for_log(qr/\[$pid\] LOG:  duroxide: stopping; returned \d+ claims uncounted/, $offset),
		"SIGTERM: the terminated $kind returned its claims");
	ok(!$node->log_contains(qr/reinitializing/, $offset),
		"SIGTERM: no crash restart after terminating the $kind");
}

# 3a. an activity worker inside an activity
$gates->query_safe('SELECT pg_advisory_lock(4242)');
$node->safe_psql(
	'postgres',
	q{SELECT count(duroxide.start_orchestration(format('t%s', lpad(i::text, 3, '0')), 'Chain',
	                                              jsonb_build_object('gated', true)))
	    FROM generate_series(21, 40) i;
	  SELECT count(duroxide.raise_event(format('t%s', lpad(i::text, 3, '0')), 'go'))
	    FROM generate_series(21, 40) i});
terminate_blocked('activity worker', $blocked_worker);

# 3b. a dispatcher inside a turn
$gates->query_safe('SELECT pg_advisory_unlock(4242), pg_advisory_lock(4243)');
$node->safe_psql(
	'postgres',
	q{SELECT count(duroxide.start_orchestration(format('t%s', lpad(i::text, 3, '0')), 'Chain',
	                                              jsonb_build_object('turn_gated', true)))
	    FROM generate_series(1, 20) i});
terminate_blocked('dispatcher', $blocked_dispatcher);
$gates->quit;

# ---------------------------------------------------------------------------
# everything completes, exactly once

wait_all_terminal($node);
assert_completed($node, '240', 'all 240 instances completed with the right output',
	output => q{to_jsonb(instance_id || ':1:2:3')});

assert_effects_once($node, '720',
	'each activity effect was applied exactly once (720 rows, 720 distinct)',
	also_distinct => ['(instance_id, step)']);

assert_history_each(
	$node, '240',
	'history: every instance scheduled and completed exactly 3 activities',
	events => [
		ActivityScheduled => 3,
		ActivityCompleted => 3,
		ActivityFailed => 0,
		OrchestrationCompleted => 1
	]);

queues_empty($node);

$node->stop;
done_testing();
