# After downtime a schedule starts at most one missed run, then carries on
# at its fire times; pg_dump / pg_restore keeps schedules.
#
# A role of duroxide_user schedules an orchestration '@every 3 seconds'.
# After two runs the server is stopped (fast) for more than three intervals
# and started again.  Every fire time missed while it was down but one is
# dropped: exactly one run follows for them (the catch-up, the latest fire
# time that had passed when the first dispatcher looked), none of the
# missed ones before it, and then the runs continue one interval apart, on
# the schedule's grid (anchor + k * 3 s).  Each run is its owner's.  Then
# the schedule is paused and the database dumped and restored into another
# database of the same cluster (no worker serves it): the schedule row,
# owner, state and next fire time included, is the same there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $interval = 3;
my $node = new_node('downtime',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 1);
workers_up($node, 2, 1, 'start');

define_tick_schedule($node, '3 seconds');

# the runs' fire times (epoch seconds, from the instance ids), in order
my $runs_sql = q{SELECT extract(epoch FROM split_part(instance_id, '@', 2)::timestamptz)
                   FROM duroxide.instances WHERE instance_id LIKE 'tick@%' ORDER BY 1};
sub fire_times
{
	return map { $_ + 0 } split /\n/, $node->safe_psql('postgres', $runs_sql);
}

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) >= 2 FROM duroxide.instances WHERE instance_id LIKE 'tick@%' AND status = 'Completed'}),
	'two runs before the stop');

$node->stop('fast');
my $stopped_at = time();
# the server is down: wait until more than three intervals have passed
usleep(100_000) while time() < $stopped_at + 3 * $interval + 1;
my $started_at = time();
$node->start;

# fire times recorded before the stop (read after the start)
my @before = grep { $_ <= $stopped_at } fire_times();
my $last_before = $before[-1];
ok(@before >= 2, 'runs recorded before the stop: ' . scalar(@before));

ok( $node->poll_query_until(
		'postgres',
		qq{SELECT count(*) >= 3 FROM duroxide.instances
		    WHERE instance_id LIKE 'tick\@%' AND status = 'Completed'
		      AND split_part(instance_id, '\@', 2)::timestamptz > to_timestamp($last_before)}),
	'three runs after the start');

my @after = grep { $_ > $last_before } fire_times();
my $missed = int(($started_at - $last_before) / $interval);
ok($missed >= 3, "at least three fire times passed while the server was down ($missed)");
is(scalar(grep { $_ < $started_at } @after), 1,
	'exactly one run for the fire times missed while down (no burst)')
  or diag("before: @before; after: @after; stopped at $stopped_at, started at $started_at");
cmp_ok($after[0] - $last_before, '>=', 3 * $interval,
	'the catch-up run is the latest missed fire time, not the first');
is($after[1] - $after[0], $interval, 'the next run follows one interval after the catch-up');
is($after[2] - $after[1], $interval, 'and the one after that one interval later');
my $anchor = $node->safe_psql('postgres',
	q{SELECT extract(epoch FROM anchor) FROM duroxide.schedule_entries WHERE schedule_name = 'tick'});
is(scalar(grep { (($_ - $anchor) / $interval) != int(($_ - $anchor) / $interval) } (@before, @after)),
	0, 'every run is on the schedule grid (anchor + k * interval)');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) || ' ' || count(DISTINCT owner) || ' ' || min(owner::text) || ' ' ||
		         count(*) FILTER (WHERE output = '"dx_cron"')
		    FROM duroxide.instances WHERE instance_id LIKE 'tick@%' AND status = 'Completed'}),
	(scalar(@before) + scalar(@after)) . ' 1 dx_cron ' . (scalar(@before) + scalar(@after)),
	'every run belongs to the schedule owner and ran as it')
  or diag($node->safe_psql('postgres', q{SELECT instance_id, status, owner FROM duroxide.instances ORDER BY 1}));

# ---------------------------------------------------------------------------
# pg_dump / pg_restore keeps the schedule
$node->safe_psql('postgres', q{SET ROLE dx_cron; SELECT duroxide.pause_schedule('tick')});
my $row_sql = q{SELECT schedule_name, schedule, orchestration_name, input, version, overlap, time_zone,
                       paused, anchor, next_run_at, last_run_at, last_instance_id, last_error, owner, created_at
                  FROM duroxide.schedule_entries ORDER BY 1};
my $source_row = $node->safe_psql('postgres', $row_sql);
my $dumpfile = $node->basedir . '/schedules.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $node->connstr('postgres') ],
	'pg_dump of the database with a schedule');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '--single-transaction', '-d', $node->connstr('restored'), $dumpfile ],
	'pg_restore into another database');
is($node->safe_psql('restored', $row_sql), $source_row, 'the restored schedule row is the same');
is( $node->safe_psql(
		'restored',
		q{SET ROLE dx_cron; SELECT schedule_name || ' ' || paused || ' ' || owner FROM duroxide.schedules}),
	'tick true dx_cron',
	'its owner sees it in duroxide.schedules of the restored database');
is( $node->safe_psql(
		'restored',
		q{SELECT relrowsecurity FROM pg_class WHERE oid = 'duroxide.schedule_entries'::regclass}),
	't', 'row-level security is on in the restored database');

$node->stop;
done_testing();
