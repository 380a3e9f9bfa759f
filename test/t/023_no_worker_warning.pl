# start_orchestration warns "no duroxide worker runs" only when nothing will
# run the instance: no worker is configured for this database (another
# duroxide.database, or duroxide.orchestration_concurrency = 0).  Right after
# CREATE DATABASE + CREATE EXTENSION in the configured database, or while
# the launcher cannot start the workers yet, it does not warn.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

# the configured database does not exist yet: the launcher waits for it
my $node = new_node('nowarn', 'duroxide.database' => 'appdb');
$node->safe_psql('postgres', q{
CREATE FUNCTION public.hi(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('Hi', 'public.hi');
});

# another database than duroxide.database: warns, naming the setting
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT duroxide.start_orchestration('p-1', 'Hi')});
like($err, qr/WARNING:  no duroxide worker runs for database "postgres": duroxide.database is "appdb"/,
	'a database other than duroxide.database: warning');

# the configured database, at once after it was created (the workers are
# about to start): no warning
$node->safe_psql('postgres', 'CREATE DATABASE appdb');
($ret, $out, $err) = $node->psql('appdb', q{
CREATE EXTENSION duroxide;
CREATE FUNCTION public.hi(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('Hi', 'public.hi');
SELECT duroxide._workers_running();
SELECT duroxide.start_orchestration('a-1', 'Hi', '1');
});
is($ret, 0, 'start_orchestration in the new database succeeded');
unlike($err, qr/no duroxide worker runs/, 'right after CREATE EXTENSION: no warning')
  or diag("stderr: $err\nworkers were running: $out");
is( $node->safe_psql('appdb',
		q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('a-1', 60000)}),
	'Completed 1', 'and the instance ran');
($ret, $out, $err) = $node->psql('appdb', q{SELECT duroxide.start_orchestration('a-2', 'Hi', '2')});
unlike($err, qr/WARNING/, 'with the workers running: no warning');

# the launcher runs but cannot start the workers yet (no background worker
# slot is free beside the launcher and the logical replication launcher:
# it retries, and logs why): the workers are configured and
# coming, so no warning either
$node->append_conf('postgresql.conf', "max_worker_processes = 2\n");
$node->restart;
ok($node->wait_for_log(qr/no background worker slot is free/), 'the launcher runs, the workers wait for a slot');
($ret, $out, $err) = $node->psql('appdb', q{SELECT duroxide._workers_running(); SELECT duroxide.start_orchestration('a-w', 'Hi', '0')});
is($out, "f\na-w", 'no worker runs yet');
unlike($err, qr/no duroxide worker runs/, 'workers configured and the launcher running: no warning');
$node->append_conf('postgresql.conf', "max_worker_processes = 16\n");

# no dispatcher configured: warns
$node->append_conf('postgresql.conf', "duroxide.orchestration_concurrency = 0\n");
$node->restart;
($ret, $out, $err) = $node->psql('appdb', q{SELECT duroxide.start_orchestration('a-3', 'Hi', '3')});
like($err, qr/WARNING:  no duroxide worker runs for database "appdb": duroxide.orchestration_concurrency is 0/,
	'no dispatcher configured: warning');

$node->stop;
done_testing();
