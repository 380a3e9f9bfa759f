# A schedule fires on the primary only; after a failover the run due after
# the promotion happens exactly once, on the new primary.
#
# A primary with duroxide preloaded streams to a standby.  A role of
# duroxide_user schedules an orchestration '@every 10 seconds'.  After the
# first run on the primary, the standby replays it: it shows the run and
# the schedule's next fire time, runs no duroxide process and has started
# nothing of its own (a standby is read-only, and the workers start only
# when recovery has finished).  The primary is stopped before the next fire
# time and the standby promoted: its first dispatcher fires the due run,
# with the id the primary would have given it, exactly once (one instance
# for that fire time, the first run is not started again), as the owner,
# and the schedule carries on at the following fire time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $primary = new_node(
	'primary',
	{ allows_streaming => 1 },
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 1,
	'shared_buffers' => '16MB',
	'max_connections' => 20);
workers_up($primary, 2, 1, 'primary');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

define_tick_schedule($primary, '10 seconds');

my $runs_sql = q{SELECT string_agg(instance_id || ' ' || status, ',' ORDER BY instance_id)
                   FROM duroxide.instances WHERE instance_id LIKE 'tick@%'};
ok( $primary->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM duroxide.instances WHERE instance_id LIKE 'tick@%' AND status = 'Completed'},
		'1'),
	'primary: the first run completed');
$primary->wait_for_catchup($standby);
my $primary_runs = $primary->safe_psql('postgres', $runs_sql);

# the standby: the primary's run, the next fire time, no engine process
is($standby->safe_psql('postgres', $runs_sql), $primary_runs,
	'standby: it shows the run of the primary and no other');
is(worker_counts($standby), '0 0 0', 'standby: no duroxide launcher, dispatcher or activity worker runs');
my ($next_at, $next_epoch, $last_id) = split /\|/, $standby->safe_psql(
	'postgres',
	q{SELECT to_char(next_run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
	         extract(epoch FROM next_run_at), last_instance_id
	    FROM duroxide.schedule_entries WHERE schedule_name = 'tick'});
is("$last_id Completed", $primary_runs, 'standby: the schedule row names the first run');

# fail over before the next fire time
$primary->stop('fast');
my $stopped_at = time();
cmp_ok($stopped_at, '<', $next_epoch,
	"the primary stopped before the next fire time ($next_at)");
is($standby->safe_psql('postgres', $runs_sql), $primary_runs,
	'standby: still nothing started on the standby while in recovery');
$standby->promote;
workers_up($standby, 2, 1, 'promoted');

# the run due after the promotion, and the one after it
my $due_id = "tick\@$next_at";
ok( $standby->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM duroxide.instances WHERE instance_id LIKE 'tick@%' AND status = 'Completed'},
		'3'),
	'promoted: the due run and the next one completed')
  or diag($standby->safe_psql('postgres', $runs_sql));
my @runs = split /,/, $standby->safe_psql('postgres', $runs_sql);
is($runs[0], $primary_runs, 'promoted: the primary\'s run was not started again');
is($runs[1], "$due_id Completed", 'promoted: the run due after the promotion has the id the primary would have given it');
is(scalar(@runs), 3, 'promoted: one run per fire time, none twice')
  or diag(join("\n", @runs));
is( $standby->safe_psql(
		'postgres',
		q{SELECT count(DISTINCT owner) || ' ' || min(owner::text) || ' ' || bool_and(output = '"dx_cron"')
		    FROM duroxide.instances WHERE instance_id LIKE 'tick@%'}),
	'1 dx_cron true', 'promoted: the runs are the owner\'s and ran as it');
is( $standby->safe_psql(
		'postgres',
		q{SELECT last_error IS NULL AND next_run_at > last_run_at FROM duroxide.schedule_entries WHERE schedule_name = 'tick'}),
	't', 'promoted: the schedule carries on');
ok(!$standby->log_contains(qr/could not start run/), 'no run failed to start');

$standby->stop;
done_testing();
