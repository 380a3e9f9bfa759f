# Slow activities spread over the idle activity workers (issue 15, item 2).
#
# Right after a burst of fast Hello instances (which teaches the claim sizing
# that activities are fast), one instance fans out 4 activities "Meet" on 4
# activity workers.  Each Meet counts itself as started (a sequence: its
# nextval is seen by the other backends at once, unlike a table row, which an
# activity commits only with its result), then waits (bounded, 15 s) until
# 4 Meets have started, and returns how many it saw.  Every Meet can see 4
# only if the 4 run in 4 workers at once: a worker that claimed several of
# them runs them one after another, and each of those times out having seen
# fewer.  Before fair-share claims the first worker to look claimed all 4
# (the output was [1, 1, 1, 1]... [1, 2, 3, 4] after about a minute).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('spread', 'duroxide.worker_concurrency' => 4);
workers_up($node, 2, 4, 'start');
define_hello($node);

$node->safe_psql('postgres', q{
CREATE SEQUENCE public.meet_started;
CREATE FUNCTION public.meet(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    seen int := 0;
    deadline timestamptz := clock_timestamp() + interval '15 s';
BEGIN
    PERFORM nextval('public.meet_started');
    LOOP
        SELECT last_value INTO seen FROM public.meet_started;
        EXIT WHEN seen >= 4 OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN to_jsonb(seen);
END $$;

CREATE FUNCTION public.meet_fan(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1 .. 4 LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'Meet', jsonb_build_object('i', i));
    END LOOP;
    RETURN duroxide.await_all(tasks);
END $$;

SELECT duroxide.register_activity('Meet', 'public.meet');
SELECT duroxide.register_orchestration('MeetFan', 'public.meet_fan');
});

# the burst: 200 fast activities, so the claim sizing expects fast ones
$node->safe_psql('postgres', q{
SELECT count(duroxide.start_orchestration('hello-' || g, 'HelloWorkflow', jsonb_build_object('name', 'n' || g)))
  FROM generate_series(1, 200) g;
});
wait_all_terminal($node, 'the Hello burst finished');
assert_completed($node, 200, 'every Hello greeted', output => q{to_jsonb('Hello, ' || (input->>'name') || '!')},
	where => "instance_id LIKE 'hello-%'");

$node->safe_psql('postgres', q{SELECT duroxide.start_orchestration('meet', 'MeetFan')});
is( $node->safe_psql('postgres',
		q{SELECT status || ' ' || output FROM duroxide.wait_for_orchestration('meet', 170000)}),
	'Completed [4, 4, 4, 4]',
	'the 4 slow activities ran on 4 workers at once (each saw all 4 started)');
queues_empty($node);

$node->stop;
done_testing();
