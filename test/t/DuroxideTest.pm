# DuroxideTest -- helpers shared by the duroxide TAP tests (test/t/*.pl).
#
# Load it from a test with
#
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use DuroxideTest;
#
# (PGXS runs prove without an -I for test/t.)  Every helper takes the node
# it works on; the assert_* helpers and workers_up, wait_all_terminal and
# queues_empty each make exactly one Test::More assertion, reported at the
# line of the caller.
package DuroxideTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  new_node
  worker_counts
  workers_up
  wait_all_terminal
  queues_empty
  instance_summary
  assert_completed
  assert_effects_once
  assert_history_each
  create_effects
  define_work
  define_hello
  define_tick_schedule
);

# ---------------------------------------------------------------------------
# nodes and engine processes

# the settings every node gets after shared_preload_libraries = 'duroxide'
# and duroxide.database = 'postgres', unless the test overrides them
my @default_settings = (
	'duroxide.poll_interval' => 200,
	'max_worker_processes' => 16,);

# new_node($name, [\%init_options,] setting => value, ...)
#
# A new node, initialised (with the options of the leading hash ref, e.g.
# { allows_streaming => 1 }) and started, with duroxide preloaded for
# database "postgres" and CREATE EXTENSION duroxide done.  The settings are
# written to postgresql.conf in the order given, after the defaults above; a
# setting given here replaces its default, and the value undef leaves it out.
# Values other than integers are quoted.  Does not wait for the workers (see
# workers_up).
sub new_node
{
	my ($name, @args) = @_;
	my %init = ref $args[0] eq 'HASH' ? %{ shift @args } : ();
	my @settings = (@default_settings, @args);

	# the last value of each setting, in the order of first appearance
	my (@order, %value);
	while (my ($key, $val) = splice(@settings, 0, 2))
	{
		push @order, $key unless exists $value{$key};
		$value{$key} = $val;
	}

	my $conf = "\nshared_preload_libraries = 'duroxide'\nduroxide.database = 'postgres'\n";
	for my $key (@order)
	{
		my $val = $value{$key};
		next unless defined $val;
		$val = "'$val'" unless $val =~ /^-?\d+$/;
		$conf .= "$key = $val\n";
	}

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION duroxide');
	return $node;
}

# the live launchers, dispatchers and activity workers, as "L D A"
my $worker_counts_sql =
  q{SELECT count(*) FILTER (WHERE backend_type = 'duroxide launcher') || ' ' ||
       count(*) FILTER (WHERE backend_type = 'duroxide dispatcher') || ' ' ||
       count(*) FILTER (WHERE backend_type = 'duroxide activity worker')
  FROM pg_stat_activity};

sub worker_counts
{
	my ($node) = @_;
	return $node->safe_psql('postgres', $worker_counts_sql);
}

# assert (polling) that the launcher, $ndisp dispatchers and $nact activity
# workers run
sub workers_up
{
	my ($node, $ndisp, $nact, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( $node->poll_query_until('postgres', $worker_counts_sql, "1 $ndisp $nact"),
		"$what: launcher, $ndisp dispatchers and $nact activity workers run")
	  or diag('launcher, dispatchers, activity workers: ' . worker_counts($node));
}

# ---------------------------------------------------------------------------
# end states

# assert (polling) that no instance is Running any more
sub wait_all_terminal
{
	my ($node, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) FROM duroxide.instances WHERE status = 'Running'}, '0'),
		$name // 'no instance is running any more');
}

# assert that the orchestrator, worker and timer queues are all empty
sub queues_empty
{
	my ($node, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is( $node->safe_psql(
			'postgres',
			q{SELECT orchestrator_queue || ' ' || worker_queue || ' ' || timer_queue
			    FROM duroxide.get_queue_depths()}),
		'0 0 0',
		$name // 'the queues are empty at the end');
}

# "id status output error" of (at most 20 of) the instances of $from
# (default duroxide.instances) matching $where, for diagnostics
sub instance_summary
{
	my ($node, $where, $from) = @_;
	$from //= 'duroxide.instances';
	return $node->safe_psql(
		'postgres',
		"SELECT instance_id || ' ' || status || ' ' || coalesce(output::text, '') || ' ' || coalesce(error, '')
		   FROM $from WHERE $where ORDER BY 1 LIMIT 20");
}

# assert_completed($node, $count, $name, output => $sql, [from => $sql,] [where => $sql])
#
# assert that exactly $count instances of $from (default duroxide.instances)
# matching $where completed with output = $output (an SQL expression over
# the instance's columns); on failure, list the others
sub assert_completed
{
	my ($node, $count, $name, %opt) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $from = $opt{from} // 'duroxide.instances';
	my $where = defined $opt{where} ? "($opt{where}) AND " : '';
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM $from
			  WHERE ${where}status = 'Completed' AND output = $opt{output}"),
		$count, $name)
	  or diag(
		instance_summary(
			$node,
			"${where}(status <> 'Completed' OR output IS DISTINCT FROM $opt{output})",
			$from));
}

# assert_effects_once($node, $rows, $name, [where => $sql,] [also_distinct => [$expr, ...]])
#
# assert that public.effects (rows matching $where) has exactly $rows rows,
# all distinct by (instance_id, activity_id) -- and by each expression of
# also_distinct; on failure, list the duplicates
sub assert_effects_once
{
	my ($node, $rows, $name, %opt) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $where = defined $opt{where} ? "WHERE $opt{where}" : '';
	my @distinct = ('(instance_id, activity_id)', @{ $opt{also_distinct} // [] });
	my $counts = join(" || ' ' || ", 'count(*)', map { "count(DISTINCT $_)" } @distinct);
	is( $node->safe_psql('postgres', "SELECT $counts FROM public.effects $where"),
		join(' ', ($rows) x (1 + @distinct)), $name)
	  or diag(
		$node->safe_psql(
			'postgres',
			"SELECT instance_id || ' activity ' || activity_id || ': ' || count(*)
			   FROM public.effects $where
			  GROUP BY instance_id, activity_id HAVING count(*) <> 1
			  ORDER BY 1 LIMIT 20"));
}

# assert_history_each($node, $count, $name, events => [type => n, ...], [where => $sql])
#
# assert that exactly $count instances (with history rows matching $where)
# have, over all their executions, exactly n events of each given type
sub assert_history_each
{
	my ($node, $count, $name, %opt) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @events = @{ $opt{events} };
	my @having;
	while (my ($type, $n) = splice(@events, 0, 2))
	{
		push @having, "count(*) FILTER (WHERE event_type = '$type') = $n";
	}
	my $where = defined $opt{where} ? "WHERE $opt{where}" : '';
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM (
			    SELECT instance_id FROM duroxide.history $where
			     GROUP BY instance_id
			    HAVING " . join("\n			       AND ", @having) . ") s"),
		$count, $name);
}

# ---------------------------------------------------------------------------
# orchestrations and activities used by several tests

# public.effects (instance_id, activity_id), with no unique constraint: an
# activity that records its run there shows a duplicate rather than failing
sub create_effects
{
	my ($node) = @_;
	$node->safe_psql(
		'postgres', q{
CREATE TABLE public.effects (
    instance_id text NOT NULL,
    activity_id bigint NOT NULL
);
});
}

# define_work($node, [sleep => $seconds])
#
# public.effects (see create_effects) and activity Work (public.work): it
# records its run in public.effects, sleeps $seconds if given, and returns
# input.n * 10 + input.k
sub define_work
{
	my ($node, %opt) = @_;
	my $sleep = defined $opt{sleep} ? "\n    PERFORM pg_sleep($opt{sleep});" : '';
	create_effects($node);
	$node->safe_psql(
		'postgres', qq{
CREATE FUNCTION public.work(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO public.effects VALUES (ctx.instance_id, ctx.activity_id);$sleep
    RETURN to_jsonb((input->>'n')::int * 10 + (input->>'k')::int);
END
\$\$;

SELECT duroxide.register_activity('Work', 'public.work');
});
}

# define_hello($node, [effects => 1])
#
# the hello workflow of examples/hello.sql: orchestration HelloWorkflow
# (public.hello_workflow) calls activity SayHello (public.say_hello), which
# returns "Hello, <input.name>!".  With effects => 1 the activity also
# records each run in public.hello_effects (instance_id), to show that it
# is applied exactly once.
sub define_hello
{
	my ($node, %opt) = @_;
	my ($table, $insert) = ('', '');
	if ($opt{effects})
	{
		$table = "CREATE TABLE public.hello_effects (instance_id text NOT NULL);\n";
		$insert = "\n    INSERT INTO public.hello_effects VALUES (ctx.instance_id);";
	}
	$node->safe_psql(
		'postgres', qq{
$table
CREATE FUNCTION public.say_hello(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS \$\$
BEGIN$insert
    RETURN to_jsonb('Hello, ' || (input->>'name') || '!');
END
\$\$;

CREATE FUNCTION public.hello_workflow(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS \$\$
BEGIN
    RETURN duroxide.call_activity(ctx, 'SayHello', input);
END
\$\$;

SELECT duroxide.register_activity('SayHello', 'public.say_hello');
SELECT duroxide.register_orchestration('HelloWorkflow', 'public.hello_workflow');
});
}

# define_tick_schedule($node, $every)
#
# role dx_cron (a duroxide_user) and its orchestration Tick (public.tick,
# returns current_user), and its schedule "tick" of Tick every $every (as
# '@every $every'), created as dx_cron
sub define_tick_schedule
{
	my ($node, $every) = @_;
	$node->safe_psql(
		'postgres', qq{
CREATE ROLE dx_cron LOGIN IN ROLE duroxide_user;
CREATE FUNCTION public.tick(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS \$\$ BEGIN RETURN to_jsonb(current_user::text); END \$\$;
ALTER FUNCTION public.tick OWNER TO dx_cron;
SET ROLE dx_cron;
SELECT duroxide.register_orchestration('Tick', 'public.tick');
SELECT duroxide.create_schedule('tick', '\@every $every', 'Tick');
});
}

1;
