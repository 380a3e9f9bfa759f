# A worker's memory stays flat over many batches: each batch's allocations
# live in the loop's memory context, which is reset after every batch.  (A
# look at the extension before a batch commits a transaction of its own,
# which leaves TopMemoryContext current; a batch run there kept all it
# allocated, about 1 kB per instance, for the life of the process.)  The
# dispatcher's TopMemoryContext, as pg_log_backend_memory_contexts() reports
# it, must not grow with the number of instances it ran.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('workermem', 'duroxide.orchestration_concurrency' => 1);
workers_up($node, 1, 2, 'at start');
define_hello($node);

my $pid = $node->safe_psql('postgres', q{SELECT pid FROM duroxide.workers WHERE kind = 'dispatcher'});

# TopMemoryContext's total (bytes) of the dispatcher, from its log line
# (its level is 0 before PostgreSQL 18, 1 from 18 on)
sub top_total
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	my $total;
	for (1 .. 300)
	{
		last if defined $total;
		if (slurp_file($node->logfile, $offset) =~ /\[$pid\] LOG:\s+level: [01]; TopMemoryContext: (\d+) total/)
		{
			$total = $1;
			last;
		}
		select(undef, undef, undef, 0.1);
	}
	return $total;
}

# run $n Hello instances through the dispatcher, 50 per transaction
sub run_hellos
{
	my ($tag, $n) = @_;
	$node->safe_psql('postgres', qq{
SELECT duroxide.start_orchestration('$tag-' || i, 'HelloWorkflow', jsonb_build_object('name', i))
  FROM generate_series(1, $n) i});
	ok( $node->poll_query_until(
			'postgres', qq{SELECT count(*) = $n FROM duroxide.instances WHERE instance_id LIKE '$tag-%' AND status = 'Completed'}),
		"$n instances ($tag) completed");
}

run_hellos('warm', 500);
my $before = top_total();
ok(defined $before, "the dispatcher logged its TopMemoryContext ($before bytes)");
run_hellos('mem', 3000);
my $after = top_total();
ok(defined $after, "and again after 3000 more instances ($after bytes)");
cmp_ok((defined $after && defined $before) ? $after - $before : 1e12, '<', 1024 * 1024,
	'the dispatcher\'s TopMemoryContext grew by less than 1 MB over 3000 instances');

$node->stop;
done_testing();
