# duroxide.database as a list: each listed database gets its own
# orchestration_concurrency dispatchers and worker_concurrency activity
# workers, and an unlisted one none.  When max_worker_processes has no room
# for all of them, the launcher shares what there is round-robin and logs
# ONE message naming the database left short and the setting to raise;
# raising the setting gives every database its workers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dblist');
$node->init;
$node->start;
# the databases exist before duroxide is loaded, so the launcher sees all
# three in its first look, in the order of the list
for my $db (qw(db1 db2 db3 other))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION duroxide');
	$node->safe_psql(
		$db, q{
CREATE FUNCTION public.where_am_i(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN to_jsonb(current_database()::text);
END
$$;
CREATE FUNCTION public.wf(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'WhereAmI', input);
END
$$;
SELECT duroxide.register_activity('WhereAmI', 'public.where_am_i');
SELECT duroxide.register_orchestration('Wf', 'public.wf');
});
}
$node->stop;

# 2 workers per database; the launcher and the logical replication launcher
# leave 5 of 7 slots: db1 and db2 get both, db3 its dispatcher only
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'duroxide'
duroxide.database = 'db1, db2,db3'
duroxide.orchestration_concurrency = 1
duroxide.worker_concurrency = 1
duroxide.poll_interval = 200
max_worker_processes = 7
});
$node->start;

my $per_db = q{SELECT string_agg(datname || ':' || n, ' ' ORDER BY datname)
  FROM (SELECT datname, count(*) AS n FROM pg_stat_activity
         WHERE backend_type IN ('duroxide dispatcher', 'duroxide activity worker')
         GROUP BY datname) s};

ok($node->poll_query_until('postgres', $per_db, 'db1:2 db2:2 db3:1'),
	'too few worker processes: shared round-robin, db3 is left short')
  or diag($node->safe_psql('postgres', $per_db));
ok( $node->wait_for_log(
		qr/no background worker slot is free for database "db3": 1 of its 2 workers run/),
	'the log names the database left short');

# the launcher keeps retrying (every second): the message stays one
my $t0 = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->poll_query_until('postgres', "SELECT clock_timestamp() > '$t0'::timestamptz + interval '2.5 s'");
my @lines = grep { /no background worker slot is free/ } split /\n/, slurp_file($node->logfile);
is(scalar @lines, 1, 'one message, not one per retry or per worker');
like($lines[0] // '', qr/database "db3"/, 'naming db3 only');
like(slurp_file($node->logfile), qr/HINT:  Increase max_worker_processes/, 'with the setting to raise');

# an instance in db1 and db2 completes, each by its own workers
for my $db (qw(db1 db2))
{
	$node->safe_psql($db, q{SELECT duroxide.start_orchestration('x', 'Wf')});
	is( $node->safe_psql(
			$db, q{SELECT status || ' ' || (output #>> '{}') FROM duroxide.wait_for_orchestration('x', 60000)}),
		"Completed $db", "$db runs its own instance \"x\"");
}

# duroxide.workers shows every worker with its database
is( $node->safe_psql(
		'db1', q{SELECT string_agg(DISTINCT database, ',' ORDER BY database) FROM duroxide.workers}),
	'db1,db2,db3', 'duroxide.workers names the database of each worker');

# an unlisted database: a warning when an instance is started there
my ($ret, $out, $err) = $node->psql('other', q{SELECT duroxide.start_orchestration('y', 'Wf')});
like($err, qr/no duroxide worker runs for database "other": duroxide.database is "db1, db2,db3"/,
	'an unlisted database warns that no worker runs for it');

# room for everyone
$node->append_conf('postgresql.conf', "max_worker_processes = 16\n");
$node->restart;
ok($node->poll_query_until('postgres', $per_db, 'db1:2 db2:2 db3:2'),
	'with room, each listed database gets its workers')
  or diag($node->safe_psql('postgres', $per_db));
$node->safe_psql('db3', q{SELECT duroxide.start_orchestration('x', 'Wf')});
is( $node->safe_psql(
		'db3', q{SELECT status || ' ' || (output #>> '{}') FROM duroxide.wait_for_orchestration('x', 60000)}),
	'Completed db3', 'db3 runs its own instance "x"');

$node->stop;
done_testing();
