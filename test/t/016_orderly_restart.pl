# Planned restarts are not failed deliveries.
#
# A worker stopped by SIGTERM (fast shutdown, pg_terminate_backend) gives
# its claims back uncounted before it exits, so an activity that is running
# while the server is restarted with "pg_ctl restart -m fast" more often than
# duroxide.max_attempts is not failed as poison: it runs to completion once
# released.  The crash path (kill -9, immediate shutdown) keeps counting:
# test/t/012_poison.pl.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('orderly', 'duroxide.max_attempts' => 3);

$node->safe_psql('postgres', q{
CREATE TABLE released (x int);
CREATE FUNCTION slow(ctx duroxide.activity_context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    -- runs until the test releases it (the table is read afresh each time)
    WHILE NOT EXISTS (SELECT 1 FROM released) LOOP
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN jsonb_build_object('attempt', ctx.attempt);
END $$;
CREATE FUNCTION wf(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RETURN duroxide.call_activity(ctx, 'Slow'); END $$;
SELECT duroxide.register_activity('Slow', 'slow');
SELECT duroxide.register_orchestration('Wf', 'wf');
SELECT duroxide.start_orchestration('long', 'Wf');
});

# four restarts, each while the activity runs: one more than max_attempts
for my $i (1 .. 4)
{
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) > 0 FROM duroxide.workers WHERE kind = 'activity worker' AND instance_id = 'long'}),
		"restart $i: the activity is running");
	$node->restart;		# pg_ctl restart -m fast
	# given back with its count undone (0), or claimed again since (1);
	# counted restarts would climb 1, 2, 3, 4 and end in poison
	is( $node->safe_psql('postgres',
			q{SELECT max(delivery_count) <= 1 FROM duroxide.worker_queue WHERE instance_id = 'long'}),
		't', "restart $i: the attempt was given back uncounted");
}

$node->safe_psql('postgres', 'INSERT INTO released VALUES (1)');
is( $node->safe_psql('postgres',
		q{SELECT status || ' ' || coalesce(output::text, error) FROM duroxide.wait_for_orchestration('long', 60000)}),
	'Completed {"attempt": 1}',
	'the activity completed in its first attempt, not failed as poison');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(event_type, ',' ORDER BY event_id) FROM duroxide.get_history('long')}),
	'OrchestrationStarted,ActivityScheduled,ActivityCompleted,OrchestrationCompleted',
	'history: one attempt');
ok(!$node->log_contains('poison'), 'no poison in the server log');

$node->stop;
done_testing();
