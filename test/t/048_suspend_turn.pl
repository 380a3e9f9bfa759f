# A suspend that commits while a claimed turn of the instance runs: that turn
# does not count.
#
# The background dispatchers claim an instance (claim committed) and run its
# turn in a second transaction.  The orchestration code waits for advisory
# lock 4801, which the test holds, so the first turn blocks inside the
# function after its claim committed.  The test suspends the instance
# (this does not wait for the turn) and then releases the lock: the turn
# finishes, but its instance update requires the status not to be Suspended,
# so it matches no row and the turn's writes roll back.  The instance stays
# Suspended with no history and its start message still queued, runs no turn
# while suspended, and after resume_orchestration runs from the start and
# completes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'suspend_turn',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 1);

$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.gated(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4801);
    RETURN duroxide.wait_for_event(ctx, 'go');
END $$;
SELECT duroxide.register_orchestration('Gated', 'public.gated');
});

workers_up($node, 2, 1, 'at start');

my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(4801)');
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('st-1', 'Gated')});

my $blocked = q{SELECT count(*) FROM pg_stat_activity a JOIN duroxide.workers w ON w.pid = a.pid
   WHERE w.kind = 'dispatcher' AND a.wait_event_type = 'Lock' AND a.wait_event = 'advisory'};
ok($node->poll_query_until('postgres', $blocked, '1'), 'a dispatcher is blocked inside the first turn');
is($node->safe_psql('postgres', q{SELECT claim_boot IS NOT NULL FROM duroxide.instances WHERE instance_id = 'st-1'}),
	't', 'the claim of the turn is committed');

$node->safe_psql('postgres', q{SELECT duroxide.suspend_orchestration('st-1', 'during the turn')});
is($node->safe_psql('postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'st-1'}),
	'Suspended', 'the suspend committed while the turn runs');

$gate->query_safe('SELECT pg_advisory_unlock(4801)');
ok( $node->poll_query_until(
		'postgres', q{SELECT claim_boot IS NULL FROM duroxide.instances WHERE instance_id = 'st-1'}),
	'the turn ended and its claim is released');
is( $node->safe_psql(
		'postgres',
		q{SELECT i.status || ' ' || (SELECT count(*) FROM duroxide.history h WHERE h.instance_id = i.instance_id)
		       || ' ' || (SELECT string_agg(q.kind, ',') FROM duroxide.orchestrator_queue q
		                   WHERE q.instance_id = i.instance_id)
		    FROM duroxide.instances i WHERE i.instance_id = 'st-1'}),
	'Suspended 0 ExecutionStarted',
	'the turn wrote nothing: no history, the start message still queued');

# no turn while suspended (the dispatchers poll every 200 ms here)
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT status FROM duroxide.wait_for_orchestration('st-1', 1500)});
like($err, qr/timed out/, 'wait_for_orchestration keeps waiting while suspended');
is($node->safe_psql('postgres', q{SELECT count(*) FROM duroxide.history WHERE instance_id = 'st-1'}),
	'0', 'still no history while suspended');

$node->safe_psql('postgres', q{SELECT duroxide.resume_orchestration('st-1', 'go on')});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM duroxide.get_history('st-1') WHERE event_type = 'EventSubscribed'}, '1'),
	'after the resume the first turn runs');
$node->safe_psql('postgres', q{SELECT duroxide.raise_event('st-1', 'go', '"done"')});
is( $node->safe_psql(
		'postgres', q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('st-1', 30000)}),
	'Completed "done"', 'the instance completes');
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(event_type, ',' ORDER BY event_id) FROM duroxide.get_history('st-1')}),
	'OrchestrationStarted,EventSubscribed,EventRaised,OrchestrationCompleted',
	'its history has each event once');
is( $node->safe_psql(
		'postgres',
		q{SELECT suspend_reason || ' / ' || resume_reason FROM duroxide.suspensions WHERE instance_id = 'st-1'}),
	'during the turn / go on', 'the suspension is recorded with its reasons');

$gate->quit;
$node->stop;
done_testing();
