# Transient errors are retried, not recorded as failures.
#
# A turn that an administrator cancels (pg_cancel_backend of the dispatcher
# while the orchestration function runs) is rolled back and retried with
# backoff: the instance stays Running and then completes.  An activity
# attempt that hits lock_not_available (its lock_timeout while another
# session holds the row it updates) is put back and retried the same way,
# and completes once the lock is free; its effect is applied once.  Both
# count like a crash (claim_count / delivery_count stay up meanwhile).  A
# cancel of an idle worker cancels nothing and does not end it.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('transient', 'duroxide.max_attempts' => 20);
workers_up($node, 2, 2, 'start');

$node->safe_psql('postgres', q{
CREATE TABLE slow_turns (instance_id text PRIMARY KEY);
-- sleeps in every turn while its instance is listed in slow_turns
CREATE FUNCTION slow_wf(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    WHILE EXISTS (SELECT 1 FROM slow_turns WHERE instance_id = ctx.instance_id) LOOP
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN jsonb_build_object('done', true);
END $$;
SELECT duroxide.register_orchestration('SlowWf', 'slow_wf');

CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO account VALUES (1, 0);
CREATE TABLE deposits (instance_id text NOT NULL);
CREATE FUNCTION deposit(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET lock_timeout = '100ms' AS $$
BEGIN
    INSERT INTO deposits VALUES (ctx.instance_id);
    UPDATE account SET balance = balance + 10 WHERE id = 1;
    RETURN (SELECT to_jsonb(balance) FROM account WHERE id = 1);
END $$;
CREATE FUNCTION deposit_wf(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RETURN duroxide.call_activity(ctx, 'Deposit'); END $$;
SELECT duroxide.register_activity('Deposit', 'deposit');
SELECT duroxide.register_orchestration('DepositWf', 'deposit_wf');
});

# --- an administrator cancels a dispatcher while it runs a turn
$node->safe_psql('postgres', q{
INSERT INTO slow_turns VALUES ('cancelled');
SELECT duroxide.start_orchestration('cancelled', 'SlowWf');
});
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM duroxide.workers w JOIN pg_stat_activity a USING (pid)
		 WHERE w.kind = 'dispatcher' AND w.instance_id = 'cancelled' AND a.wait_event = 'PgSleep'}),
	'the turn runs in a dispatcher');
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM duroxide.workers WHERE kind = 'dispatcher' AND instance_id = 'cancelled'});
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'pg_cancel_backend of the dispatcher');
ok($node->wait_for_log(qr/turn of instance "cancelled" hit a transient error/, $log_offset),
	'the cancelled turn is reported as a transient error');
is($node->safe_psql('postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'cancelled'}),
	'Running', 'the instance is still running after the cancel');
$node->safe_psql('postgres', q{DELETE FROM slow_turns});
is( $node->safe_psql('postgres',
		q{SELECT status || ' ' || coalesce(output::text, error) FROM duroxide.wait_for_orchestration('cancelled', 60000)}),
	'Completed {"done": true}', 'the retried turn completed the instance');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(event_type, ',' ORDER BY event_id) FROM duroxide.get_history('cancelled')}),
	'OrchestrationStarted,OrchestrationCompleted', 'history: the cancelled turn left nothing');

# --- an activity waits on a row lock past its lock_timeout
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('SELECT * FROM account WHERE id = 1 FOR UPDATE');
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('locked', 'DepositWf')});
ok($node->wait_for_log(qr/activity "Deposit" of instance "locked" hit a transient error/, $log_offset),
	'the attempt that hit lock_timeout is reported as a transient error');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM duroxide.worker_queue WHERE instance_id = 'locked' AND delivery_count >= 1 AND claim_boot IS NULL}),
	'the attempt is back in the queue, its delivery counted');
is($node->safe_psql('postgres', q{SELECT status FROM duroxide.instances WHERE instance_id = 'locked'}),
	'Running', 'the instance is still running while the row is locked');
$locker->query_safe('COMMIT');
$locker->quit;
is( $node->safe_psql('postgres',
		q{SELECT status || ' ' || coalesce(output::text, error) FROM duroxide.wait_for_orchestration('locked', 60000)}),
	'Completed 10', 'the retried attempt completed once the lock was released');
is($node->safe_psql('postgres', q{SELECT count(*) FROM deposits}), '1',
	'the effect of the attempt was applied once');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(event_type, ',' ORDER BY event_id) FROM duroxide.get_history('locked')}),
	'OrchestrationStarted,ActivityScheduled,ActivityCompleted,OrchestrationCompleted',
	'history: no failed attempt recorded');
ok(!$node->log_contains('poison:'), 'nothing failed as poison');

# --- a cancel of an idle worker cancels nothing: the worker keeps running
my $pids = $node->safe_psql('postgres', q{SELECT string_agg(pid::text, ',' ORDER BY slot) FROM duroxide.workers});
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM duroxide.workers WHERE state <> 'idle'}),
	'all workers are idle');
$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM duroxide.workers});
$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('after-idle-cancel', 'DepositWf')});
is( $node->safe_psql('postgres',
		q{SELECT status FROM duroxide.wait_for_orchestration('after-idle-cancel', 60000)}),
	'Completed', 'an instance started after the cancels completes');
is($node->safe_psql('postgres', q{SELECT string_agg(pid::text, ',' ORDER BY slot) FROM duroxide.workers}),
	$pids, 'the same worker processes run: none ended because of the cancel');
ok(!$node->log_contains('exited with exit code 1'), 'no worker exited');

$node->stop;
done_testing();
