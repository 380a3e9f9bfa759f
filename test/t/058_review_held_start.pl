# Security review: a tenant that starts an instance id in a transaction it
# keeps open holds that id's entry in the unique index of
# duroxide.instances.  A dispatcher whose turn creates an instance with the
# same id (here a sub-orchestration) must not wait for that transaction, or
# every other tenant's turns stop behind it: the create waits at most a
# short lock_timeout and the turn is retried later (a transient error).
# One dispatcher here, so a stalled one stops everything.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = new_node('reviewheld', 'duroxide.orchestration_concurrency' => 1);
workers_up($node, 1, 2, 'at start');

$node->safe_psql('postgres', q{
CREATE ROLE rh_mallory LOGIN IN ROLE duroxide_user;
CREATE ROLE rh_alice LOGIN IN ROLE duroxide_user;
CREATE SCHEMA rh; GRANT USAGE ON SCHEMA rh TO PUBLIC;
CREATE FUNCTION rh.child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"child"'::jsonb $$;
CREATE FUNCTION rh.parent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_sub_orchestration(ctx, 'RhChild', '{}', 'rh-held-child');
END $$;
ALTER FUNCTION rh.child OWNER TO rh_mallory;
ALTER FUNCTION rh.parent OWNER TO rh_mallory;
CREATE FUNCTION rh.hello(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"hello"'::jsonb $$;
ALTER FUNCTION rh.hello OWNER TO rh_alice;
SET ROLE rh_mallory;
SELECT duroxide.register_orchestration('RhChild', 'rh.child');
SELECT duroxide.register_orchestration('RhParent', 'rh.parent');
RESET ROLE;
SET ROLE rh_alice;
SELECT duroxide.register_orchestration('RhHello', 'rh.hello');
});

# mallory starts the child's id in a transaction it keeps open
my $mallory = $node->background_psql('postgres', on_error_stop => 0);
$mallory->query_safe('SET ROLE rh_mallory');
$mallory->query_safe('BEGIN');
$mallory->query_safe(q{SELECT duroxide.start_orchestration('rh-held-child', 'RhChild', '{}')});

# then starts the parent whose turn creates that id
$node->safe_psql('postgres',
	q{SET ROLE rh_mallory; SELECT duroxide.start_orchestration('rh-parent', 'RhParent', '{}')});
ok( $node->poll_query_until(
		'postgres', q{SELECT (SELECT count(*) FROM duroxide.history WHERE instance_id = 'rh-parent') > 0}
		  . q{ OR EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'duroxide dispatcher' AND wait_event_type = 'Lock')}
		  . q{ OR EXISTS (SELECT FROM duroxide.orchestrator_queue WHERE instance_id = 'rh-parent' AND visible_at > now())}),
	"the parent's turn has run or waits");

# alice's instance must still run (bounded poll: 60 s)
$node->safe_psql('postgres',
	q{SET ROLE rh_alice; SELECT duroxide.start_orchestration('rh-alice', 'RhHello', '{}')});
my $done = 0;
for (1 .. 600)
{
	$done = $node->safe_psql('postgres',
		q{SELECT count(*) FROM duroxide.instances WHERE instance_id = 'rh-alice' AND status = 'Completed'});
	last if $done eq '1';
	usleep(100_000);
}
is($done, '1', "another tenant's instance completes while mallory holds the child's id open");
# (a turn may be inside its short bounded wait when sampled: poll)
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
		               WHERE backend_type = 'duroxide dispatcher' AND wait_event_type = 'Lock'}),
	'no dispatcher keeps waiting for a lock');

# once mallory commits, the parent's retried turn finds the id taken by an
# instance that is not its child: the collision ends it, as for any taken id
$mallory->query_safe('COMMIT');
$mallory->quit;
ok( $node->poll_query_until(
		'postgres', q{SELECT status || ' ' || (error LIKE '%"rh-held-child" already exists%')
		              FROM duroxide.instances WHERE instance_id = 'rh-parent'},
		'Failed true'),
	'after the commit the retried turn meets the taken id and fails the parent');
like(slurp_file($node->logfile), qr/turn of instance "rh-parent" hit a transient error, retried in \d+ ms: canceling statement due to lock timeout/,
	'the held id was a lock timeout and a retried turn');

$node->stop;
done_testing();
