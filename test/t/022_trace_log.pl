# Trace lines of orchestrations and activities (duroxide.trace_*) appear in
# the server log once each, with no CONTEXT (or STATEMENT) line after them.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('trace');
workers_up($node, 2, 2, 'start');

$node->safe_psql('postgres', q{
CREATE FUNCTION traced_act(ctx duroxide.activity_context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.trace_info(ctx, 'activity-trace-' || (input->>'tag'));
    RETURN input;
END $$;
CREATE FUNCTION traced_wf(ctx duroxide.context, input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.trace_warn(ctx, 'orchestration-trace-' || (input->>'tag'));
    RETURN duroxide.call_activity(ctx, 'TracedAct', input);
END $$;
SELECT duroxide.register_activity('TracedAct', 'traced_act');
SELECT duroxide.register_orchestration('TracedWf', 'traced_wf');
SELECT duroxide.start_orchestration('traced', 'TracedWf', '{"tag": "x7q"}');
});
is($node->safe_psql('postgres',
		q{SELECT status FROM duroxide.wait_for_orchestration('traced', 60000)}),
	'Completed', 'the traced instance completed');

# the lines and the line after each
for my $tag ('orchestration-trace-x7q', 'activity-trace-x7q')
{
	my @lines = split /\n/, slurp_file($node->logfile);
	my @at = grep { $lines[$_] =~ /\Q$tag\E/ } 0 .. $#lines;
	is(scalar @at, 1, "$tag: one line in the server log") or diag(join("\n", map { $lines[$_] } @at));
	my $next = @at && $at[0] < $#lines ? $lines[ $at[0] + 1 ] : '';
	unlike($next, qr/^\S.*\b(CONTEXT|STATEMENT):|^\s*(CONTEXT|STATEMENT):/, "$tag: no CONTEXT or STATEMENT line after it")
	  or diag("line: $lines[$at[0]]\nnext: $next");
}

$node->stop;
done_testing();
