# The launcher keeps the configured set of workers running.
#
# With duroxide.orchestration_concurrency = 2 and duroxide.worker_concurrency
# = 3 the launcher starts exactly 2 dispatchers and 3 activity workers (shown
# in pg_stat_activity with backend_type "duroxide dispatcher" / "duroxide
# activity worker").  When one of them is terminated the launcher starts a
# replacement -- the counts come back to exactly 2 and 3 with a new process --
# and orchestrations still complete.  When max_worker_processes has no room
# for the workers, the server log says so.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'workers',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 3);
define_hello($node);

# the pid of the process with this application_name ('' if none)
sub pid_of
{
	my ($appname) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE application_name = '$appname'");
}

# start a hello instance and wait (on the server side) for its output
sub hello_completes
{
	my ($id, $what) = @_;
	$node->safe_psql('postgres',
		"SELECT duroxide.start_orchestration('$id', 'HelloWorkflow', jsonb_build_object('name', '$id'))"
	);
	is( $node->safe_psql(
			'postgres',
			"SELECT status || ' ' || (output #>> '{}') FROM duroxide.wait_for_orchestration('$id', 60000)"
		),
		"Completed Hello, $id!",
		"$what: an orchestration completes");
}

# terminate one worker, then check it is replaced by a new process
sub replaced_after_kill
{
	my ($appname) = @_;
	my $old = pid_of($appname);
	isnt($old, '', "$appname runs");
	is( $node->safe_psql('postgres', "SELECT pg_terminate_backend($old)"),
		't', "$appname terminated");
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 1 AND bool_and(pid <> $old)
			   FROM pg_stat_activity WHERE application_name = '$appname'"),
		"$appname is restarted as a new process");
	workers_up($node, 2, 3, "after terminating $appname");
}

workers_up($node, 2, 3, 'at start');

# the workers are named after their slot
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(application_name, ',' ORDER BY application_name)
		    FROM pg_stat_activity
		   WHERE backend_type IN ('duroxide dispatcher', 'duroxide activity worker')}),
	'duroxide activity worker 0,duroxide activity worker 1,duroxide activity worker 2,'
	  . 'duroxide dispatcher 0,duroxide dispatcher 1',
	'each worker reports its slot as application_name');

# the workers serve the configured database
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(DISTINCT datname, ',')
		    FROM pg_stat_activity
		   WHERE backend_type IN ('duroxide dispatcher', 'duroxide activity worker')}),
	'postgres',
	'the workers are connected to duroxide.database');

hello_completes('hello-start', 'at start');

replaced_after_kill('duroxide activity worker 0');
hello_completes('hello-after-worker-kill', 'after an activity worker was terminated');

replaced_after_kill('duroxide dispatcher 1');
hello_completes('hello-after-dispatcher-kill', 'after a dispatcher was terminated');

$node->stop;

# ---------------------------------------------------------------------------
# no room: the launcher says so in the log instead of failing silently

# (max_worker_processes = 3 and the server's own poll interval)
my $small = new_node(
	'small',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 3,
	'duroxide.poll_interval' => undef,
	'max_worker_processes' => 3);
ok($small->wait_for_log(qr/max_worker_processes/),
	'too small max_worker_processes is reported in the log');
$small->stop;

done_testing();
