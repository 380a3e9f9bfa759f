# Tenant isolation, what only the server log shows (sql/24_tenant_writes
# covers the rest): two non-superuser roles, an attacker and a victim.
#   - a detached start by the attacker with the victim's instance id creates
#     nothing, the attacker's orchestration completes, and the log has a
#     WARNING naming both instances;
#   - a completion of the wrong kind (a TimerFired pointing at the victim's
#     event subscription, inserted by the superuser) is dropped with a
#     WARNING naming the instance and the kind;
#   - the victim's instance is unharmed and completes with its event.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;

my $node = new_node(
	'tenant_warnings',
	'duroxide.orchestration_concurrency' => 2,
	'duroxide.worker_concurrency' => 2);
workers_up($node, 2, 2, 'at start');

$node->safe_psql(
	'postgres', q{
CREATE ROLE tw_attacker LOGIN IN ROLE duroxide_user;
CREATE ROLE tw_victim LOGIN IN ROLE duroxide_user;
CREATE FUNCTION public.victim_wait(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN jsonb_build_object('got', duroxide.wait_for_event(ctx, 'go')); END $$;
CREATE FUNCTION public.attack_child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '"attacker child"'::jsonb $$;
CREATE FUNCTION public.attack_detached(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.start_orchestration_detached(ctx, 'AttackChild', input->>'id');
    RETURN '"went on"';
END $$;
ALTER FUNCTION public.victim_wait OWNER TO tw_victim;
ALTER FUNCTION public.attack_child OWNER TO tw_attacker;
ALTER FUNCTION public.attack_detached OWNER TO tw_attacker;
SET ROLE tw_victim;
SELECT duroxide.register_orchestration('VictimWait', 'public.victim_wait');
SELECT duroxide.start_orchestration('v-1', 'VictimWait');
RESET ROLE;
SET ROLE tw_attacker;
SELECT duroxide.register_orchestration('AttackChild', 'public.attack_child');
SELECT duroxide.register_orchestration('AttackDetached', 'public.attack_detached');
});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM duroxide.history WHERE instance_id = 'v-1' AND event_type = 'EventSubscribed'},
		'1'),
	'the victim waits for its event');

# a detached start with the victim's id
my $log_offset = -s $node->logfile;
$node->safe_psql(
	'postgres', q{
SET ROLE tw_attacker;
SELECT duroxide.start_orchestration('a-det', 'AttackDetached', '{"id": "v-1"}');
});
is( $node->safe_psql(
		'postgres',
		q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('a-det', 10000)}),
	'Completed "went on"',
	'the attacker\'s orchestration goes on after the refused detached start');
ok( $node->wait_for_log(
		qr/WARNING:  duroxide: orchestration instance "a-det" did not start instance "v-1" detached: that id already exists and belongs to another role/,
		$log_offset),
	'the log names both instances of the refused detached start');

# a forged completion of the wrong kind
$log_offset = -s $node->logfile;
my $forged = $node->safe_psql(
	'postgres', q{
INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, source_event_id)
SELECT 'v-1', 1, 'TimerFired', h.event_id FROM duroxide.history h
 WHERE h.instance_id = 'v-1' AND h.event_type = 'EventSubscribed'
RETURNING id});
ok( $node->poll_query_until(
		'postgres', qq{SELECT count(*) FROM duroxide.orchestrator_queue WHERE id = $forged}, '0'),
	'the forged completion is consumed');
ok( $node->wait_for_log(
		qr/WARNING:  duroxide: ignoring TimerFired message for instance "v-1": it does not match the command at event \d+/,
		$log_offset),
	'the log names the instance and the kind of the dropped completion');

# the victim is unharmed and completes
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(event_type, ',' ORDER BY event_id) FROM duroxide.history WHERE instance_id = 'v-1'}),
	'OrchestrationStarted,EventSubscribed',
	'the victim\'s history is unchanged');
is( $node->safe_psql(
		'postgres',
		q{SELECT owner || ' ' || orchestration_name || ' ' || coalesce(parent_instance_id, '-')
		    FROM duroxide.instances WHERE instance_id = 'v-1'}),
	'tw_victim VictimWait -',
	'the victim\'s instance still belongs to the victim');
$node->safe_psql(
	'postgres', q{
SET ROLE tw_victim;
SELECT duroxide.raise_event('v-1', 'go', '"real"');
});
is( $node->safe_psql(
		'postgres',
		q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('v-1', 10000)}),
	'Completed {"got": "real"}',
	'the victim completes with its real event');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM duroxide.instances WHERE owner = 'tw_attacker'::regrole}),
	'1',
	'the attacker owns only its own instance');

$node->stop;
done_testing();
