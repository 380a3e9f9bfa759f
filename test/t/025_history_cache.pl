# The dispatchers' history cache is bounded by duroxide.history_cache_size,
# and evicting from it never frees rows that the running batch borrows.
#
# One dispatcher runs ten long-history instances at once (so its batches hold
# several of them), with a cache far smaller than their histories: after
# almost every batch entries are evicted, while the next batch borrows the
# survivors.  Every instance must still compute the right result, and the
# dispatcher's cache memory (pg_log_backend_memory_contexts) stays within
# the setting.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node(
	'histcache',
	'duroxide.orchestration_concurrency' => 1,
	'duroxide.worker_concurrency' => 2,
	'duroxide.history_cache_size' => '64kB');
workers_up($node, 1, 2, 'start');

$node->safe_psql('postgres', q{
CREATE FUNCTION pad(ctx duroxide.activity_context, input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('i', input->'i', 'pad', repeat('r', 400))
$$;
CREATE FUNCTION long_wf(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    total bigint := 0;
    r jsonb;
BEGIN
    FOR i IN 1 .. (input->>'n')::int LOOP
        r := duroxide.call_activity(ctx, 'Pad', jsonb_build_object('i', i, 'pad', repeat('p', 400)));
        total := total + (r->>'i')::int;
    END LOOP;
    RETURN to_jsonb(total + (duroxide.wait_for_event(ctx, 'finish'))::int);
END $$;
SELECT duroxide.register_activity('Pad', 'pad');
SELECT duroxide.register_orchestration('LongWf', 'long_wf');
SELECT duroxide.start_orchestration('long-' || g, 'LongWf', '{"n": 40}') FROM generate_series(1, 10) g;
});

# all ten wait for their "finish" event, each with 82 events of history
# (started, 40 x scheduled + completed, subscribed): the cache holds what it
# can of them now
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM duroxide.instances WHERE instance_id LIKE 'long-%' AND history_len = 82}, '10'),
	'the ten long instances wait with 82 events each');

# the cache's memory, as the dispatcher itself reports it: the entries are
# the "duroxide history" contexts under "duroxide history cache"
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM duroxide.workers WHERE kind = 'dispatcher'});
my $offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
ok($node->wait_for_log(qr/\[$pid\].*Grand total/, $offset), 'the dispatcher logged its memory contexts');
my $log = substr(slurp_file($node->logfile), $offset);
my ($bytes, $entries) = (0, 0);
for my $line (split /\n/, $log)
{
	next unless $line =~ /\[$pid\]/;
	if ($line =~ /duroxide history: (\d+) total/) { $bytes += $1; $entries++; }
}
cmp_ok($bytes, '<=', 64 * 1024, "the cache entries hold at most 64kB ($entries entries, $bytes bytes)");
cmp_ok($entries, '>=', 1, 'the cache keeps some history');
cmp_ok($entries, '<', 10, 'but not every history');

# one batch of ten turns, each borrowing from or missing the small cache
$node->safe_psql('postgres',
	q{SELECT count(duroxide.raise_event('long-' || g, 'finish', '0')) FROM generate_series(1, 10) g});
wait_all_terminal($node, 'the ten long instances ended');
assert_completed($node, 10, 'every long instance computed 1 + ... + 40', output => "'820'");
is( $node->safe_psql('postgres',
		q{SELECT min(n) || ' ' || max(n) FROM (SELECT count(*) n FROM duroxide.history GROUP BY instance_id) s}),
	'84 84', 'each history has its 84 events');

# a larger cache keeps them all, and gives the same results
$node->append_conf('postgresql.conf', "duroxide.history_cache_size = '8MB'\n");
$node->reload;
$node->safe_psql('postgres', q{
SELECT duroxide.start_orchestration('again-' || g, 'LongWf', '{"n": 40}') FROM generate_series(1, 10) g;
});
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM duroxide.instances WHERE instance_id LIKE 'again-%' AND history_len = 82}, '10'),
	'the second ten wait');
$node->safe_psql('postgres',
	q{SELECT count(duroxide.raise_event('again-' || g, 'finish', '0')) FROM generate_series(1, 10) g});
wait_all_terminal($node, 'the second ten ended');
assert_completed($node, 10, 'with a large cache too', output => "'820'", where => "instance_id LIKE 'again-%'");

$node->stop;
done_testing();
