# Replay costs that grew with the length of a history (issue 15).
#
# 1. The turns of one dispatcher batch keep PL/pgSQL's fast path for simple
# expressions (src/simple_expr.c).
#
# A turn that suspends ends with an error raised inside the expression of the
# durable call (`acc := duroxide.call_activity(...)`).  PL/pgSQL leaves that
# expression flagged "in use" for the rest of the transaction, and evaluates
# it through SPI (an executor start, run and end each time) in every later
# turn of the same batch.  pg_stat_statements (track = all) counts those
# executions: an expression evaluated the fast way never reaches the
# executor, so it is not counted at all.
#
# Six Chain instances, started in one transaction, are run by one
# dispatcher, so their turns share batches.  Before the repair the
# call_activity expression was executed through SPI in every turn but the
# first of each batch.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node(
	'simple_expr',
	'shared_preload_libraries' => 'duroxide,pg_stat_statements',
	'pg_stat_statements.track' => 'all',
	'duroxide.orchestration_concurrency' => 1);
workers_up($node, 1, 2, 'start');

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_stat_statements;
CREATE FUNCTION public.echo(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
CREATE FUNCTION public.chain(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    acc integer := 0;
BEGIN
    FOR i IN 1 .. (input->>'n')::integer LOOP
        acc := (duroxide.call_activity(ctx, 'Echo', to_jsonb(acc + 1)))::text::integer;
    END LOOP;
    RETURN to_jsonb(acc);
END $$;
SELECT duroxide.register_activity('Echo', 'public.echo');
SELECT duroxide.register_orchestration('Chain', 'public.chain');
SELECT pg_stat_statements_reset();
});

$node->safe_psql('postgres', q{
SELECT count(duroxide.start_orchestration('chain-' || g, 'Chain', '{"n": 20}')) FROM generate_series(1, 6) g;
});
wait_all_terminal($node, 'the chains finished');
assert_completed($node, 6, 'every chain counted to 20', output => q{'20'::jsonb},
	where => "instance_id LIKE 'chain-%'");
is( $node->safe_psql('postgres', q{
		SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%duroxide.call_activity(ctx%'}),
	'0',
	'the call_activity expression never went through the executor (PL/pgSQL evaluated it as a simple expression)');

$node->stop;

# 2. A dispatcher whose history cache holds an older state of an execution
# (the other dispatcher ran the turns since) reads only the newer rows
# (history_cache.c, DxHistCacheLendPrefix).  Two chains of 150 calls on two
# dispatchers, whose turns alternate between them: the history lookups must
# return at most about every row twice (once per dispatcher) plus the short
# start that is not cached, not the whole history on every turn that changed
# dispatcher (before: about 40 times the history's size).
my $node2 = new_node(
	'history_delta',
	'shared_preload_libraries' => 'duroxide,pg_stat_statements',
	'pg_stat_statements.track' => 'all',
	'duroxide.orchestration_concurrency' => 2);
workers_up($node2, 2, 2, 'start');
$node2->safe_psql('postgres', q{
CREATE EXTENSION pg_stat_statements;
CREATE FUNCTION public.echo(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
CREATE FUNCTION public.chain(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    acc integer := 0;
BEGIN
    FOR i IN 1 .. (input->>'n')::integer LOOP
        acc := (duroxide.call_activity(ctx, 'Echo', to_jsonb(acc + 1)))::text::integer;
    END LOOP;
    RETURN to_jsonb(acc);
END $$;
SELECT duroxide.register_activity('Echo', 'public.echo');
SELECT duroxide.register_orchestration('Chain', 'public.chain');
SELECT pg_stat_statements_reset();
});
$node2->safe_psql('postgres', q{
SELECT count(duroxide.start_orchestration('long-' || g, 'Chain', '{"n": 150}')) FROM generate_series(1, 2) g;
});
wait_all_terminal($node2, 'the long chains finished');
assert_completed($node2, 2, 'both chains counted to 150', output => q{'150'::jsonb},
	where => "instance_id LIKE 'long-%'");
my ($read, $events) = split /\|/, $node2->safe_psql('postgres', q{
	SELECT (SELECT coalesce(sum(rows), 0) FROM pg_stat_statements
	         WHERE query LIKE '%JOIN duroxide.history h ON%'),
	       (SELECT count(*) FROM duroxide.history WHERE instance_id LIKE 'long-%')});
note("history rows read $read for $events events");
ok($read <= 3 * $events, "the history lookups read $read rows for $events events (at most 3 x)");

$node2->stop;
done_testing();
