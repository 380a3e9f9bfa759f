# duroxide.database = '*': one launcher serves every database in which the
# extension is created, each with its own workers, and nothing crosses
# databases.
#
# Three databases (db_a, db_b with the extension from the start, db_c
# created while the server runs):
#   - "postgres" has no extension: it keeps no worker (one looks and stops);
#   - the same instance id in db_a and db_b names two independent instances,
#     each run by its own database's workers (the activity returns
#     current_database());
#   - a wait_for_orchestration in db_a is not woken by the commit that ends
#     the instance of the same id in db_b (the waiter logs each wake-up at
#     DEBUG1: none before its own instance ends);
#   - CREATE EXTENSION in db_c starts its workers without a restart;
#   - DROP EXTENSION in db_b stops its workers for good, db_a keeps working;
#   - a plain DROP DATABASE of a served database fails as with any session;
#     DROP DATABASE ... WITH (FORCE) of db_c succeeds, nothing is restarted
#     into it, and db_a keeps working.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('manydb');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'duroxide'
duroxide.database = '*'
duroxide.orchestration_concurrency = 1
duroxide.worker_concurrency = 1
duroxide.poll_interval = 200
max_worker_processes = 16
});
$node->start;

my $engine = q{backend_type IN ('duroxide dispatcher', 'duroxide activity worker')};

# the engine processes connected to a database
sub engine_in
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE $engine AND datname = '$db'");
}

# create the extension and the workflow in a database
sub install
{
	my ($db) = @_;
	$node->safe_psql(
		$db, q{
CREATE EXTENSION duroxide;
CREATE FUNCTION public.where_am_i(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN to_jsonb(current_database()::text);
END
$$;
CREATE FUNCTION public.wf(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    ev jsonb;
BEGIN
    IF (input->>'wait')::boolean THEN
        ev := duroxide.wait_for_event(ctx, 'go');
    END IF;
    RETURN jsonb_build_object('db', duroxide.call_activity(ctx, 'WhereAmI', input), 'ev', ev);
END
$$;
SELECT duroxide.register_activity('WhereAmI', 'public.where_am_i');
SELECT duroxide.register_orchestration('Wf', 'public.wf');
});
}

# assert (polling duroxide.workers there) that a database's two workers run
sub workers_in
{
	my ($db, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( $node->poll_query_until(
			$db,
			q{SELECT count(*) FILTER (WHERE database = current_database()) || ' ' ||
			         count(*) FILTER (WHERE database = current_database() AND kind = 'dispatcher')
			    FROM duroxide.workers},
			'2 1'),
		"$what: one dispatcher and one activity worker serve $db (duroxide.workers)");
}

# start an instance and assert that it completes with its own database's output
sub completes_in
{
	my ($db, $id, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$node->safe_psql($db, "SELECT duroxide.start_orchestration('$id', 'Wf', '{\"wait\": false}')");
	is( $node->safe_psql(
			$db,
			"SELECT status || ' ' || (output->>'db') FROM duroxide.wait_for_orchestration('$id', 60000)"),
		"Completed $db",
		"$what: an instance completes in $db, run by its workers");
}

# wait (polling) until the server clock has moved on by $ms
sub clock_passes
{
	my ($ms) = @_;
	my $t0 = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	$node->poll_query_until('postgres',
		"SELECT clock_timestamp() > '$t0'::timestamptz + interval '$ms ms'");
}

$node->safe_psql('postgres', 'CREATE DATABASE db_a');
$node->safe_psql('postgres', 'CREATE DATABASE db_b');
install('db_a');
install('db_b');
workers_in('db_a', 'after CREATE EXTENSION');
workers_in('db_b', 'after CREATE EXTENSION');

# ---------------------------------------------------------------------------
# a database without the extension keeps no worker

ok($node->wait_for_log(qr/extension duroxide is not created in database "postgres"; the worker stops/),
	'a worker looked at "postgres", found no extension and stopped');
clock_passes(1500);
is(engine_in('postgres'), '0', 'no worker stays in a database without the extension');

# ---------------------------------------------------------------------------
# the same instance id in two databases: two instances

$node->safe_psql('db_a', q{SELECT duroxide.start_orchestration('same', 'Wf', '{"wait": true}')});

# a waiter in db_a, logging its wake-ups
my ($wout, $werr) = ('', '');
my $waiter = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('db_a') . ' application_name=waiter_a',
		'-c', q{SET client_min_messages = debug1;
SELECT status || ' ' || (output->>'db') FROM duroxide.wait_for_orchestration('same', 120000)}
	],
	'>', \$wout, '2>', \$werr);
ok( $node->poll_query_until(
		'db_a',
		q{SELECT count(*) FROM pg_stat_activity
		   WHERE application_name = 'waiter_a' AND wait_event = 'Extension'}, '1'),
	'the waiter waits in db_a');
# wake-ups so far (none expected, but only later ones are the other database's)
$waiter->pump_nb;
my $wakes_before = () = $werr =~ /woken/g;

$node->safe_psql('db_b', q{SELECT duroxide.start_orchestration('same', 'Wf', '{"wait": false}')});
is( $node->safe_psql(
		'db_b', q{SELECT status || ' ' || (output->>'db') FROM duroxide.wait_for_orchestration('same', 60000)}),
	'Completed db_b',
	'"same" in db_b completes, run by the workers of db_b');
is( $node->safe_psql('db_a', q{SELECT status FROM duroxide.get_orchestration_status('same')}),
	'Running', '"same" in db_a still runs: another instance');

# the waiter is still waiting, and was never woken
$waiter->pump_nb;
ok( $node->poll_query_until(
		'db_a',
		q{SELECT count(*) FROM pg_stat_activity
		   WHERE application_name = 'waiter_a' AND wait_event = 'Extension'}, '1'),
	'the waiter in db_a still waits');
$waiter->pump_nb;
my $wakes_after = () = $werr =~ /woken/g;
is($wakes_after, $wakes_before, 'the commit that ended "same" in db_b did not wake the waiter in db_a')
  or diag("waiter's messages: $werr");

$node->safe_psql('db_a', q{SELECT duroxide.raise_event('same', 'go', '1')});
$waiter->finish;
is($wout, "Completed db_a\n", 'the waiter returns when "same" in db_a completes');
like($werr, qr/wait_for_orchestration\("same"\) woken/, 'woken by the commit in its own database');
is( $node->safe_psql('db_a', q{SELECT count(*) FROM duroxide.instances}) . ' '
	  . $node->safe_psql('db_b', q{SELECT count(*) FROM duroxide.instances}),
	'1 1', 'one instance "same" in each database');

# ---------------------------------------------------------------------------
# CREATE EXTENSION in a new database while the server runs

$node->safe_psql('postgres', 'CREATE DATABASE db_c');
install('db_c');
workers_in('db_c', 'after CREATE EXTENSION in a new database');
completes_in('db_c', 'c-1', 'a new database');

# ---------------------------------------------------------------------------
# DROP EXTENSION in db_b stops its workers; the others keep working

$node->safe_psql('db_b', 'DROP EXTENSION duroxide CASCADE');
ok($node->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE $engine AND datname = 'db_b'", '0'),
	'DROP EXTENSION stops the workers of db_b');
clock_passes(1500);
is(engine_in('db_b'), '0', 'no worker is started again in db_b');
completes_in('db_a', 'a-after-drop', 'after DROP EXTENSION in db_b');
completes_in('db_c', 'c-after-drop', 'after DROP EXTENSION in db_b');

# and CREATE EXTENSION brings them back
install('db_b');
workers_in('db_b', 'after CREATE EXTENSION again');
completes_in('db_b', 'b-again', 'after CREATE EXTENSION again');

# ---------------------------------------------------------------------------
# the launcher alone restarts: the running workers stay, none is doubled

my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'duroxide launcher'});
my $workers_before = $node->safe_psql('postgres',
	"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE $engine");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'duroxide launcher' AND pid <> $launcher",
		'1'),
	'the postmaster restarts the launcher');
clock_passes(1500);
is( $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE $engine"),
	$workers_before, 'the new launcher keeps the running workers and starts no second set');
unlike(slurp_file($node->logfile), qr/is already taken by process/, 'no worker was started twice');

# ---------------------------------------------------------------------------
# dropping a served database

my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE db_c');
isnt($ret, 0, 'a plain DROP DATABASE of a served database fails');
like($err, qr/database "db_c" is being accessed by other users/,
	'... as it does with any connected session');
workers_in('db_c', 'after the failed DROP DATABASE');

my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'DROP DATABASE db_c WITH (FORCE)');
is(engine_in('db_c'), '0', 'DROP DATABASE ... WITH (FORCE) of a served database succeeds');
completes_in('db_a', 'a-after-dropdb', 'after DROP DATABASE db_c');
completes_in('db_b', 'b-after-dropdb', 'after DROP DATABASE db_c');
clock_passes(2000);
my $log = substr(slurp_file($node->logfile), $offset);
unlike($log, qr/database "?db_c"? does not exist|database \d+ does not exist/,
	'no worker was started into the dropped database');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'duroxide launcher'}),
	'1', 'the launcher runs');

$node->stop;
done_testing();
