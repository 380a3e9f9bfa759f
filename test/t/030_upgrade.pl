# Upgrading from the released 0.1.0 keeps running instances running.
#
# A node runs duroxide 0.1.0 (built from tag v0.1.0 / commit ceeafd6, see
# scripts/old-source.sh) with instances that wait on an event, a durable
# timer, an activity (retried until a gate opens) and a child.  Then the new
# library is installed and the server restarted: until ALTER EXTENSION
# duroxide UPDATE, the new workers wait (state "waiting for ALTER EXTENSION
# UPDATE", logged once) instead of running turns against the old schema,
# and start_orchestration refuses with a hint.  After the update every
# instance completes, and new ones run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DxLifecycle;

unless (old_source())
{
	fail('the duroxide 0.1.0 source is available (DUROXIDE_OLD_SRC)');
	done_testing();
	exit;
}

my $install = private_install('upgrade_install');
install_old($install);

my $node = PostgreSQL::Test::Cluster->new('upgrade', install_path => $install);
$node->init;
$node->append_conf('postgresql.conf', node_conf());
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION duroxide');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'duroxide'}),
	'0.1.0', 'the old library installs extension version 0.1.0');

define_waiting($node);
start_waiting($node, 'u', 4000);
waiting_reached($node, 'u', 'on 0.1.0');

# a hello instance that completes on 0.1.0, to check history survives too
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.say(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RETURN to_jsonb('Hello, ' || (input->>'name') || '!'); END $$;
CREATE FUNCTION public.hello(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'Say', input); END $$;
SELECT duroxide.register_activity('Say', 'public.say');
SELECT duroxide.register_orchestration('Hello', 'public.hello');
SELECT duroxide.start_orchestration('old-hello', 'Hello', '{"name": "old"}');
});
ok( $node->poll_query_until(
		'postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'old-hello'}, 'Completed'),
	'an instance completes on 0.1.0');
my $old_history = $node->safe_psql('postgres',
	q{SELECT count(*) FROM duroxide.history WHERE instance_id = 'old-hello'});

# the new library, against the old schema
$node->stop('fast');
install_new($install);
my $log_offset = -s $node->logfile;
$node->start;

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 4 AND bool_and(state = 'waiting for ALTER EXTENSION UPDATE') FROM duroxide.workers}),
	'before ALTER EXTENSION UPDATE the new workers wait for it')
  or diag($node->safe_psql('postgres', 'SELECT * FROM duroxide.workers'));
ok( $node->wait_for_log(
		qr/extension duroxide is at version 0\.1\.0 in database "postgres", this library is version 0\.2\.0; waiting/,
		$log_offset),
	'the wait is logged');
my $log = slurp_file($node->logfile, $log_offset);
my @waits = ($log =~ /dispatcher 0: extension duroxide is at version 0\.1\.0/g);
is(scalar @waits, 1, 'dispatcher 0 logs the wait once');

my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT duroxide.start_orchestration('too-early', 'Hello', '{"name": "x"}')});
isnt($ret, 0, 'start_orchestration refuses before the update');
like($stderr, qr/extension duroxide is at version 0\.1\.0, but its library is version 0\.2\.0/,
	'the error names both versions');
like($stderr, qr/HINT:  Run ALTER EXTENSION duroxide UPDATE/, 'the hint says what to run');

is( $node->safe_psql('postgres',
		q{SELECT string_agg(instance_id || '=' || status, ' ' ORDER BY instance_id) FROM duroxide.instances
		   WHERE instance_id LIKE 'u-%'}),
	'u-child=Running u-event=Running u-gate=Running u-parent=Running u-timer=Running',
	'no turn ran (or failed) against the old schema');

$node->safe_psql('postgres', 'ALTER EXTENSION duroxide UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'duroxide'}),
	'0.2.0', 'ALTER EXTENSION duroxide UPDATE moves to 0.2.0');

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 4 AND bool_and(state NOT LIKE 'waiting%') FROM duroxide.workers}),
	'after the update the workers run')
  or diag($node->safe_psql('postgres', 'SELECT * FROM duroxide.workers'));

release_waiting($node, 'u');
assert_waiting_completed($node, 'u', 'after the update');

is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM duroxide.history WHERE instance_id = 'old-hello'}),
	$old_history, 'the history of an instance that completed on 0.1.0 is kept');

$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('new-hello', 'Hello', '{"name": "new"}')});
ok( $node->poll_query_until(
		'postgres', q{SELECT status || ' ' || output::text FROM duroxide.instances WHERE instance_id = 'new-hello'},
		'Completed "Hello, new!"'),
	'a new instance completes after the update');

$log = slurp_file($node->logfile, $log_offset);
my @errors = grep { !/but its library is version/ } ($log =~ /^.*(?:ERROR|FATAL|PANIC):.*$/mg);
is(join("\n", @errors), '', 'no error in the server log after the new library was installed (but the refused start)');

$node->stop;
done_testing();
