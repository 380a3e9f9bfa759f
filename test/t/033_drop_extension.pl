# DROP EXTENSION duroxide stops the database's workers cleanly, and CREATE
# EXTENSION starts them again, without a server restart.
#
# The extension is dropped while an activity runs: DROP EXTENSION waits for
# the running batch (the workers hold a lock on the extension during a
# batch), no worker logs an error, and every worker ends up waiting for
# CREATE EXTENSION (pg_stat_activity).  The roles duroxide_user and
# duroxide_admin stay.  After CREATE EXTENSION the workers run again and a
# new instance completes.  A second drop while every worker is idle is just
# as quiet.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DxLifecycle;

my $node = PostgreSQL::Test::Cluster->new('drop');
$node->init;
$node->append_conf('postgresql.conf', node_conf());
$node->start;

# a workflow whose activity sleeps $1 seconds and records that it ran
sub define_slow
{
	$node->safe_psql(
		'postgres', q{
CREATE TABLE IF NOT EXISTS public.slow_runs (instance_id text NOT NULL, finished_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION public.slow(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep((input->>'s')::float8);
    INSERT INTO public.slow_runs (instance_id) VALUES (ctx.instance_id);
    RETURN to_jsonb('slept'::text);
END
$$;
CREATE FUNCTION public.wf_slow(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, 'Slow', input);
END
$$;
SELECT duroxide.register_activity('Slow', 'public.slow');
SELECT duroxide.register_orchestration('SlowWorkflow', 'public.wf_slow');
});
}

my $engine = q{backend_type IN ('duroxide dispatcher', 'duroxide activity worker')};

# assert that the workers wait for CREATE EXTENSION and nothing was logged
# at ERROR or worse since $offset
sub dropped_cleanly
{
	my ($what, $offset) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) FILTER (WHERE query = 'waiting for CREATE EXTENSION duroxide') || '/' || count(*)
			   FROM pg_stat_activity WHERE $engine", '4/4'),
		"$what: all four workers wait for CREATE EXTENSION")
	  or diag($node->safe_psql('postgres', "SELECT pid, backend_type, state, query FROM pg_stat_activity WHERE $engine"));
	my $log = slurp_file($node->logfile, $offset);
	my @errors = ($log =~ /^.*(?:ERROR|FATAL|PANIC):.*$/mg);
	is(join("\n", @errors), '', "$what: no error in the server log");
	like($log, qr/waiting for CREATE EXTENSION duroxide in database "postgres"/, "$what: the wait is logged");
}

$node->safe_psql('postgres', 'CREATE EXTENSION duroxide');
define_slow();
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 4 AND bool_and(state IN ('idle', 'busy')) FROM duroxide.workers}),
	'the workers run');

# drop while an activity runs
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('slow-1', 'SlowWorkflow', '{"s": 2}')});
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND backend_type = 'duroxide activity worker'}, '1'),
	'the activity runs');
my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'SET lock_timeout = 60000; DROP EXTENSION duroxide CASCADE');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.slow_runs WHERE instance_id = 'slow-1'}),
	'1', 'DROP EXTENSION waited for the running batch: the activity committed first');
dropped_cleanly('dropped during a batch', $offset);
like(slurp_file($node->logfile, $offset), qr/extension duroxide was dropped in database "postgres"; restarting the worker/,
	'workers that ran say why they restart');

is( $node->safe_psql('postgres',
		q{SELECT string_agg(rolname, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'duroxide%'}),
	'duroxide_admin duroxide_user', 'the roles stay after DROP EXTENSION');

# again, without a restart
$node->safe_psql('postgres', 'CREATE EXTENSION duroxide');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 4 AND bool_and(state IN ('idle', 'busy')) FROM duroxide.workers}),
	'after CREATE EXTENSION the workers run again')
  or diag($node->safe_psql('postgres', 'SELECT * FROM duroxide.workers'));
define_slow();
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('slow-2', 'SlowWorkflow', '{"s": 0}')});
ok( $node->poll_query_until(
		'postgres', q{SELECT status || ' ' || output::text FROM duroxide.instances WHERE instance_id = 'slow-2'},
		'Completed "slept"'),
	'an instance completes after CREATE EXTENSION');

# dropped and created again in one transaction: the workers that ran
# restart (their caches name the dropped objects) and run the new one
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'SET lock_timeout = 60000; BEGIN; DROP EXTENSION duroxide CASCADE; CREATE EXTENSION duroxide; COMMIT;');
define_slow();
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('slow-3', 'SlowWorkflow', '{"s": 0}')});
ok( $node->poll_query_until(
		'postgres', q{SELECT status || ' ' || output::text FROM duroxide.instances WHERE instance_id = 'slow-3'},
		'Completed "slept"'),
	'an instance completes after DROP and CREATE EXTENSION in one transaction');
like(slurp_file($node->logfile, $offset), qr/extension duroxide was dropped and created again in database "postgres"; restarting the worker/,
	'the workers that ran restart for the new extension');
my @late = (slurp_file($node->logfile, $offset) =~ /^.*(?:ERROR|FATAL|PANIC):.*$/mg);
is(join("\n", @late), '', 'no error after DROP and CREATE EXTENSION in one transaction');

# a drop while every worker is idle
ok( $node->poll_query_until('postgres', q{SELECT bool_and(state = 'idle') FROM duroxide.workers}),
	'the workers are idle');
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'SET lock_timeout = 60000; DROP EXTENSION duroxide CASCADE');
dropped_cleanly('dropped while idle', $offset);

# a server stop while the workers wait for the extension is quiet too
$offset = -s $node->logfile;
$node->stop('fast');
# (a test session whose psql has not finished exiting is told so too)
my @errors = grep { !/terminating (?:background worker .*|connection) due to administrator command/ }
  (slurp_file($node->logfile, $offset) =~ /^.*(?:ERROR|FATAL|PANIC):.*$/mg);
is(join("\n", @errors), '', 'stopping workers that wait for CREATE EXTENSION logs no error');
done_testing();
