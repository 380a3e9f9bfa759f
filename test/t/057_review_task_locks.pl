# Security review: a tenant that claims its own external task and keeps its
# transaction open holds the task's row lock; the dispatcher must not wait
# for that lock when the instance is cancelled (withdrawing its queued
# tasks), or every other tenant's turns stop behind it.  One dispatcher here,
# so a stalled one stops everything.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = new_node('reviewlocks', 'duroxide.orchestration_concurrency' => 1);
workers_up($node, 1, 2, 'at start');

$node->safe_psql('postgres', q{
CREATE ROLE rv_mallory LOGIN IN ROLE duroxide_user;
CREATE ROLE rv_alice LOGIN IN ROLE duroxide_user;
CREATE SCHEMA rv; GRANT USAGE ON SCHEMA rv TO PUBLIC;
CREATE FUNCTION rv.ext(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'RvExt', input); END $$;
ALTER FUNCTION rv.ext OWNER TO rv_mallory;
CREATE FUNCTION rv.hello(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"hello"'::jsonb $$;
ALTER FUNCTION rv.hello OWNER TO rv_alice;
SET ROLE rv_mallory;
SELECT duroxide.register_external_activity('RvExt', 'rvq');
SELECT duroxide.register_orchestration('RvExtCall', 'rv.ext');
SELECT duroxide.start_orchestration('rv-held', 'RvExtCall', '{}');
RESET ROLE;
SET ROLE rv_alice;
SELECT duroxide.register_orchestration('RvHello', 'rv.hello');
});
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 1 FROM duroxide.worker_queue WHERE instance_id = 'rv-held'}),
	'the external task is queued');

# mallory leases its task and keeps the transaction (and the row lock) open
my $mallory = $node->background_psql('postgres', on_error_stop => 0);
$mallory->query_safe('SET ROLE rv_mallory');
$mallory->query_safe('BEGIN');
is($mallory->query_safe(q{SELECT count(*) FROM duroxide.claim_tasks('rvq', 'm', 1, 600000, 0)}),
	'1', 'mallory leases its task in an open transaction');

# mallory cancels its instance: the turn withdraws the instance's tasks
$node->safe_psql('postgres',
	q{SET ROLE rv_mallory; SELECT duroxide.cancel_orchestration('rv-held', 'stall')});

# alice's instance must still run (bounded poll: 60 s)
$node->safe_psql('postgres',
	q{SET ROLE rv_alice; SELECT duroxide.start_orchestration('rv-alice', 'RvHello', '{}')});
my $done = 0;
for (1 .. 600)
{
	$done = $node->safe_psql('postgres',
		q{SELECT count(*) FROM duroxide.instances WHERE instance_id = 'rv-alice' AND status = 'Completed'});
	last if $done eq '1';
	usleep(100_000);
}
is($done, '1', "another tenant's instance completes while mallory holds its task's row lock");
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_stat_activity
		               WHERE backend_type = 'duroxide dispatcher' AND wait_event_type = 'Lock'}),
	'0', 'no dispatcher waits for a lock');
is($node->safe_psql('postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'rv-held'}),
	'Cancelled', "mallory's instance is cancelled all the same");

# mallory's late completion of the withdrawn task changes nothing
$mallory->query_safe('COMMIT');
my $ids = $node->safe_psql('postgres', q{SELECT id || ',' || lease_token FROM duroxide.worker_queue WHERE instance_id = 'rv-held'});
if ($ids =~ /^(\d+),(\S+)$/)
{
	$mallory->query_safe(qq{SELECT duroxide.complete_task($1, '$2', '"late"')});
}
ok( $node->poll_query_until(
		'postgres', q{SELECT status = 'Cancelled' FROM duroxide.instances WHERE instance_id = 'rv-held'}),
	'a late completion leaves the cancelled instance cancelled');
$mallory->quit;

$node->stop;
done_testing();
