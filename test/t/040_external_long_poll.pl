# The long poll of duroxide.claim_tasks: a claim waiting with wait_ms is
# woken by the commit that adds a task to its queue (the waiter registry
# and the post-commit wake-up, src/shmem.c), not by a polling interval; a
# task that becomes visible later (a retry delay, a lease expiry) ends the
# wait at that time; a waiting claim can be cancelled; and an end-to-end
# external activity runs with the dispatchers in the loop.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# a long fallback interval: nothing here may depend on it
my $node = new_node('longpoll', 'duroxide.poll_interval' => 60000);
workers_up($node, 2, 2, 'at start');

$node->safe_psql('postgres', q{
CREATE FUNCTION public.ext_call(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'LpTask', input); END $$;
SELECT duroxide.register_external_activity('LpTask', 'lp');
SELECT duroxide.register_orchestration('LpCall', 'public.ext_call');
-- a task row as the dispatcher writes it (for the instance 'lp-direct')
CREATE FUNCTION public.add_task(delay_ms integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO duroxide.worker_queue (instance_id, execution_id, activity_id, activity_name, input,
                                       orchestration_name, orchestration_version, visible_at, task_queue)
    VALUES ('lp-direct', 1, 1, 'LpTask', '1', 'LpCall', '1.0.0', clock_timestamp() + delay_ms * interval '1 ms', 'lp')
$$;
});

my $claimer = $node->background_psql('postgres', on_error_stop => 0);
# prints "rows elapsed_ms leased_at_ms" (leased_at: when the lease was taken)
my $claim_sql = q{SELECT count(*) || ' ' || round(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)
                         || ' ' || coalesce(round(extract(epoch FROM max(lease_expires_at)) * 1000 - 30000, 3)::text, '-')
                    FROM duroxide.claim_tasks('lp', 'tap', 1, 30000, 60000);};

# wait until the claimer sleeps on its latch inside claim_tasks
sub claimer_waits
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
			               WHERE query LIKE '%claim_tasks(''lp''%' AND wait_event_type = 'Extension'
			                 AND pid <> pg_backend_pid()}),
		"$what: the claim waits on its latch");
}

# start a claim in the background; returns when it is sent
sub start_claim
{
	$claimer->query_until(qr/claiming\n/, "\\echo claiming\n$claim_sql\n");
}

# the claim's "rows elapsed_ms" once it returned
sub finish_claim
{
	my $out = '';
	$claimer->{run}->pump until $claimer->{stdout} =~ /^\d+ \d+ \S+$/m || $claimer->{timeout}->is_expired;
	($out) = $claimer->{stdout} =~ /^(\d+ \d+ \S+)$/m;
	$claimer->{stdout} = '';
	return $out // 'timed out';
}

# 1. a commit that adds a task wakes the waiting claim at once
start_claim();
claimer_waits('commit wake-up');
my $t0 = time;
$node->safe_psql('postgres', 'SELECT public.add_task(0)');
my ($rows, $elapsed, $leased_at) = split / /, finish_claim();
my $wake_ms = (time - $t0) * 1000;
is($rows, 1, 'the woken claim leased the new task');
cmp_ok($wake_ms, '<', 5000, 'woken by the commit, long before wait_ms (60 s)');
# server side: from the inserting transaction's start to the lease
my $lag = $node->safe_psql('postgres',
	"SELECT round($leased_at - extract(epoch FROM created_at) * 1000, 2) FROM duroxide.worker_queue WHERE instance_id = 'lp-direct'");
diag(sprintf('insert -> lease (server clock): %s ms; commit -> claim returned, seen by the test: %.1f ms', $lag, $wake_ms));
$node->safe_psql('postgres', q{DELETE FROM duroxide.worker_queue WHERE instance_id = 'lp-direct'});

# 2. a task that becomes visible later: the wait ends at its visible_at
start_claim();
claimer_waits('delayed task');
$node->safe_psql('postgres', 'SELECT public.add_task(1000)');
($rows, $elapsed, $leased_at) = split / /, finish_claim();
is($rows, 1, 'the claim leased the delayed task');
cmp_ok($elapsed, '>=', 900, "not before the task was visible ($elapsed ms)");
cmp_ok($elapsed, '<', 20000, 'but when it was, not at wait_ms');
$node->safe_psql('postgres', q{DELETE FROM duroxide.worker_queue WHERE instance_id = 'lp-direct'});

# 3. an aborted insert wakes nobody, and nothing is claimed
start_claim();
claimer_waits('aborted insert');
$node->safe_psql('postgres', 'BEGIN; SELECT public.add_task(0); ROLLBACK;');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_stat_activity
		               WHERE query LIKE '%claim_tasks(''lp''%' AND wait_event_type = 'Extension'}),
	'1', 'after a rolled-back insert the claim still waits');

# 4. pg_cancel_backend ends the wait cleanly; the session goes on
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%claim_tasks(''lp''%' AND pid <> pg_backend_pid()});
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$claimer->{run}->pump until $claimer->{stderr} =~ /canceling statement/ || $claimer->{timeout}->is_expired;
like($claimer->{stderr}, qr/canceling statement due to user request/, 'a cancelled claim reports the cancel');
$claimer->{stderr} = '';

# pg_terminate_backend ends a waiting claim's session, and nothing else
start_claim();
claimer_waits('terminate');
$pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%claim_tasks(''lp''%' AND pid <> pg_backend_pid()});
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'a terminated claim exits');
ok($node->log_contains(qr/terminating connection due to administrator command/, $log_offset),
	'as terminated by an administrator');
ok(!$node->log_contains(qr/server process .* was terminated|terminating any other active server processes/, $log_offset),
	'no crash restart');
eval { $claimer->quit; };
$claimer = $node->background_psql('postgres');
is($claimer->query_safe(q{SELECT count(*) FROM duroxide.claim_tasks('lp', 'tap', 1, 30000, 0)}),
	'0', 'a new session claims normally');

# 4b. release_task wakes a waiting claim: another worker gives its task back
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{SELECT public.add_task(0)});
$holder->query_safe(q{CREATE TEMP TABLE held AS SELECT task_id, lease_token FROM duroxide.claim_tasks('lp', 'holder', 1, 60000, 0)});
start_claim();
claimer_waits('release');
$holder->query_safe(q{SELECT duroxide.release_task(task_id, lease_token) FROM held});
($rows, $elapsed, $leased_at) = split / /, finish_claim();
is($rows, 1, 'a release woke the waiting claim, which leased the task');
cmp_ok($elapsed, '<', 20000, "long before the holder's lease ran out ($elapsed ms)");
$holder->quit;
$node->safe_psql('postgres', q{DELETE FROM duroxide.worker_queue WHERE instance_id = 'lp-direct'});

# 5. end to end: the dispatcher's commit of the task wakes the claim; the
#    completion reaches the orchestration
start_claim();
claimer_waits('end to end');
$t0 = time;
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('lp-e2e', 'LpCall', '"hi"')});
($rows, $elapsed, $leased_at) = split / /, finish_claim();
is($rows, 1, 'the claim got the task the dispatcher queued');
diag(sprintf('start_orchestration -> claim returned: %.1f ms', (time - $t0) * 1000));
my $done = $node->safe_psql('postgres', q{
SELECT duroxide.complete_task(w.id, w.lease_token, '"done"') FROM duroxide.worker_queue w WHERE w.instance_id = 'lp-e2e';
SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('lp-e2e', 30000);
});
is($done, "t\nCompleted \"done\"", 'the orchestration completed with the result');

$claimer->quit;
$node->stop;
done_testing();
