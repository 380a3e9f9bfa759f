# Claims are fair: one instance with 10,000 queued messages does not hide
# the others' messages from the dispatchers.
#
# Instance "burst" gets 10,000 events; its turn then blocks (until the test
# releases it) in one dispatcher with all 10,000 messages still queued.  100
# Hello instances started meanwhile must complete on the other dispatcher
# while the burst is still queued.  Before fair claims every claim looked
# only at the oldest max(256, 8 x batch) messages -- all of them the burst's
# -- and the Hello instances waited for the burst's turn.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('fair');
workers_up($node, 2, 2, 'start');
define_hello($node);

$node->safe_psql('postgres', q{
CREATE TABLE released (x int);
-- waits for 3 events; a turn that has resolved the first one blocks until
-- the test releases it
CREATE FUNCTION burst_wf(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    got jsonb := '[]';
BEGIN
    FOR i IN 1 .. 3 LOOP
        got := got || duroxide.wait_for_event(ctx, 'e');
        IF i = 1 THEN
            WHILE NOT EXISTS (SELECT 1 FROM released) LOOP
                PERFORM pg_sleep(0.02);
            END LOOP;
        END IF;
    END LOOP;
    RETURN got;
END $$;
SELECT duroxide.register_orchestration('BurstWf', 'burst_wf');
SELECT duroxide.start_orchestration('burst', 'BurstWf');
});
ok( $node->poll_query_until('postgres',
		q{SELECT waiting_on IS NOT NULL FROM duroxide.instances WHERE instance_id = 'burst'}),
	'the burst instance waits for its events');

$node->safe_psql('postgres',
	q{SELECT count(duroxide.raise_event('burst', 'e', to_jsonb(g))) FROM generate_series(1, 10000) g});
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM duroxide.workers w JOIN pg_stat_activity a USING (pid)
		 WHERE w.kind = 'dispatcher' AND w.instance_id = 'burst' AND a.wait_event = 'PgSleep'}),
	'the burst turn runs (and blocks) in one dispatcher');

$node->safe_psql('postgres', q{
SELECT duroxide.start_orchestration('hello-' || g, 'HelloWorkflow', jsonb_build_object('name', 'n' || g))
  FROM generate_series(1, 100) g;
});

# all Hello instances complete while the burst's messages are still queued
# (bounded: a starved Hello never completes while the burst turn blocks)
my $done = 0;
my $deadline = time() + 120;
my ($hellos, $queued);
while (time() < $deadline)
{
	($hellos, $queued) = split /\|/, $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM duroxide.instances WHERE instance_id LIKE 'hello-%' AND status = 'Completed'),
		       (SELECT count(*) FROM duroxide.orchestrator_queue WHERE instance_id = 'burst')});
	if ($hellos == 100) { $done = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($done, "the 100 Hello instances completed while the burst was queued (completed: $hellos)");
is($queued, 10000, 'when the last Hello completed, the 10,000 burst messages were all still queued');
assert_completed($node, 100, 'every Hello greeted', output => q{to_jsonb('Hello, ' || (input->>'name') || '!')},
	where => "instance_id LIKE 'hello-%'");

$node->safe_psql('postgres', 'INSERT INTO released VALUES (1)');
is( $node->safe_psql('postgres',
		q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('burst', 120000)}),
	'Completed [1, 2, 3]', 'the burst instance completed after its release');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM duroxide.orchestrator_queue WHERE instance_id = 'burst'}),
	'and its remaining messages were dropped');

$node->stop;
done_testing();
