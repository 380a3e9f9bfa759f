# pg_dump / pg_restore keeps running instances running.
#
# Node "source" runs instances that wait on an event, a durable timer, an
# activity (retried until a gate opens) and a child, plus one that already
# completed, while its workers keep running.  pg_dump -Fc takes a snapshot
# exported by a session that also fingerprints every duroxide table (row
# count and a hash of the rows), so the fingerprint describes exactly what
# the dump holds.  The dump is restored into a fresh cluster whose workers
# serve another database at first; there the fingerprints must be equal,
# every table and sequence of schema duroxide must be dumped with the
# extension (pg_extension_config_dump), and each sequence must be past the
# ids in use.  Then the workers serve the restored database and every
# instance completes; new instances run too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DxLifecycle;

my $source = PostgreSQL::Test::Cluster->new('source');
$source->init;
$source->append_conf('postgresql.conf', node_conf());
$source->start;
$source->safe_psql('postgres', 'CREATE EXTENSION duroxide');
define_waiting($source);
start_waiting($source, 'd', 3000);
$source->safe_psql('postgres', q{SELECT duroxide.start_orchestration('d-done', 'WaitTimer', '{"ms": 1}')});
waiting_reached($source, 'd', 'before the dump');
ok( $source->poll_query_until(
		'postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'd-done'}, 'Completed'),
	'one instance completed before the dump');

# "name count hash" of every table of schema duroxide, in the current snapshot
sub fingerprint_sql
{
	my ($node, $snapshot_sql) = @_;
	my @tables = split /\n/, $node->safe_psql(
		'postgres', q{SELECT c.relname FROM pg_class c
		 WHERE c.relnamespace = 'duroxide'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1});
	return join(
		"\nUNION ALL\n",
		map {
			qq{SELECT '$_ ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-')
			     FROM duroxide.$_ t}
		} @tables) . "\nORDER BY 1;\n";
}

# a session that exports its snapshot, fingerprints in it, and stays open
# while pg_dump uses the snapshot
my ($in, $out, $err) = ('', '', '');
my $session = IPC::Run::start(
	[ $source->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $source->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
$in .= "BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT 'snapshot ' || pg_export_snapshot();\n";
$session->pump until $out =~ /^snapshot (\S+)$/m;
my $snapshot = $1;
$in .= fingerprint_sql($source) . "SELECT 'end of fingerprint';\n";
$session->pump until $out =~ /^end of fingerprint$/m;
my ($fingerprint) = $out =~ /^snapshot \S+\n(.*)^end of fingerprint$/ms;
chomp $fingerprint;

my $dumpfile = "$PostgreSQL::Test::Utils::tmp_check/032_source.dump";
my ($dout, $derr);
my $dumped = IPC::Run::run(
	[ $source->installed_command('pg_dump'), '-Fc', "--snapshot=$snapshot", '-f', $dumpfile,
	  '-d', $source->connstr('postgres') ],
	'>', \$dout, '2>', \$derr);
ok($dumped, 'pg_dump of the running database succeeds') or diag($derr);
$in .= "COMMIT;\n\\q\n";
$session->finish;

like($fingerprint, qr/^instances 6 /m, 'the fingerprint covers the six instances');
$source->stop;

# a fresh cluster; its workers wait for another database until the check is done
my $target = PostgreSQL::Test::Cluster->new('target');
$target->init;
$target->append_conf('postgresql.conf', node_conf());
$target->append_conf('postgresql.conf', "duroxide.database = 'not_yet'\n");
$target->start;
my ($rout, $rerr);
my $restored = IPC::Run::run(
	[ $target->installed_command('pg_restore'), '--exit-on-error', '--single-transaction',
	  '-d', $target->connstr('postgres'), $dumpfile ],
	'>', \$rout, '2>', \$rerr);
ok($restored, 'pg_restore into the fresh cluster succeeds') or diag($rerr);

is($target->safe_psql('postgres', fingerprint_sql($target)), $fingerprint,
	'instances, executions, history, queues and registrations are restored as dumped');

is( $target->safe_psql(
		'postgres', q{SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
		  FROM pg_class c, pg_extension e
		 WHERE e.extname = 'duroxide' AND c.relnamespace = 'duroxide'::regnamespace
		   AND c.relkind IN ('r', 'p', 'S') AND c.oid <> ALL (e.extconfig)}),
	'', 'every table and sequence of schema duroxide is dumped with the extension');

# every sequence owned by a column is past the largest value in use
my @owned = split /\n/, $target->safe_psql(
	'postgres', q{SELECT s.oid::regclass || ' ' || t.oid::regclass || ' ' || quote_ident(a.attname)
	  FROM pg_class s JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
	       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
	  JOIN pg_class t ON t.oid = d.refobjid
	  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
	 WHERE s.relkind = 'S' AND s.relnamespace = 'duroxide'::regnamespace ORDER BY 1});
ok(scalar @owned >= 2, 'the queues have sequences');
for my $o (@owned)
{
	my ($seq, $table, $column) = split / /, $o;
	my ($used, $last) = split /\|/, $target->safe_psql('postgres',
		"SELECT coalesce(max($column), 0), (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM $seq) FROM $table");
	ok($last >= $used && $last > 0, "sequence $seq ($last) is past the ids of $table.$column ($used) and was restored");
}

# now the workers serve the restored database
$target->append_conf('postgresql.conf', "duroxide.database = 'postgres'\n");
$target->restart;
release_waiting($target, 'd');
assert_waiting_completed($target, 'd', 'after the restore');
is( $target->safe_psql('postgres',
		q{SELECT status || ' ' || output::text FROM duroxide.instances WHERE instance_id = 'd-done'}),
	'Completed "woke"', 'the instance completed before the dump is still there');

$target->safe_psql('postgres', q{SELECT duroxide.start_orchestration('d-new', 'WaitTimer', '{"ms": 1}')});
ok( $target->poll_query_until(
		'postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'd-new'}, 'Completed'),
	'a new instance completes in the restored database');

$target->stop;
done_testing();
