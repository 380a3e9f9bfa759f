# pg_dump keeps what the operations functions set: a suspended instance stays
# Suspended with its suspension record (reason included), and an activity's
# concurrency limit stays.  Dumped with pg_dump -Fc and restored with
# pg_restore into a new database of the same cluster; then the restored
# instance is resumed there, by a cluster whose workers serve that database,
# and completes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node('ops_dump');

$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.wait_go(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'Echo', duroxide.wait_for_event(ctx, 'go')); END $$;
CREATE FUNCTION public.echo(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('WaitGo', 'public.wait_go');
SELECT duroxide.register_activity('Echo', 'public.echo');
SELECT duroxide.set_activity_concurrency('Echo', 2);
SELECT duroxide.start_orchestration('od-1', 'WaitGo');
});
workers_up($node, 2, 2, 'at start');
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) FROM duroxide.get_history('od-1') WHERE event_type = 'EventSubscribed'}, '1'),
	'the instance waits for its event');
$node->safe_psql('postgres', q{SELECT duroxide.suspend_orchestration('od-1', 'kept by the dump')});
$node->safe_psql('postgres', q{SELECT duroxide.raise_event('od-1', 'go', '"restored"')});

my $dumpfile = $node->basedir . '/ops.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '--single-transaction', '-d', $node->connstr('restored'), $dumpfile ],
	'pg_restore into a new database');

is($node->safe_psql('restored', q{SELECT name || ' ' || max_concurrent FROM duroxide.activity_limits}),
	'Echo 2', 'the concurrency limit is restored');
is( $node->safe_psql(
		'restored',
		q{SELECT i.status || ' / ' || s.suspend_reason || ' / ' || (s.resumed_at IS NULL)
		    FROM duroxide.instances i JOIN duroxide.suspensions s USING (instance_id)
		   WHERE i.instance_id = 'od-1'}),
	'Suspended / kept by the dump / true',
	'the instance is restored Suspended, with its suspension record');
is( $node->safe_psql(
		'restored', q{SELECT string_agg(kind, ',') FROM duroxide.orchestrator_queue WHERE instance_id = 'od-1'}),
	'EventRaised', 'the event raised while suspended is restored, still waiting');

# the restored database's own workers: resume there, and it completes
$node->append_conf('postgresql.conf', "duroxide.database = 'restored'\n");
$node->restart;
$node->safe_psql('restored', q{SELECT duroxide.resume_orchestration('od-1', 'after the restore')});
is( $node->safe_psql(
		'restored', q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('od-1', 30000)}),
	'Completed "restored"', 'resumed after the restore, the instance completes');

$node->stop;
done_testing();
