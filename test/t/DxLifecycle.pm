# DxLifecycle -- helpers of the lifecycle TAP tests (test/t/030-039):
# private PostgreSQL installations with an old or the new duroxide, and a
# set of instances that wait on an event, a timer, an activity and a child.
#
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use DxLifecycle;
#
# The tests run as the postgres OS user, which cannot write into the
# system's PostgreSQL directories; so an installation with duroxide 0.1.0
# is a private copy of the PostgreSQL under test (scripts/private-pg.sh)
# inside the test's tmp_check directory, and a node runs from it through
# PostgreSQL::Test::Cluster's install_path.  The 0.1.0 source comes from
# DUROXIDE_OLD_SRC (scripts/test.sh exports it from git).
package DxLifecycle;

use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  private_install
  install_old
  install_new
  install_old_script
  old_source
  node_conf
  define_waiting
  start_waiting
  waiting_reached
  release_waiting
  assert_waiting_completed
);

# the 0.1.0 source tree, or undef with a diagnostic
sub old_source
{
	my $src = $ENV{DUROXIDE_OLD_SRC};
	return $src if defined $src && -f "$src/src/duroxide--0.1.0.sql";
	diag('DUROXIDE_OLD_SRC does not name the duroxide 0.1.0 source '
		  . '(scripts/test.sh exports it from git with scripts/old-source.sh)');
	return undef;
}

# run a command, die with its output if it fails
sub run_or_die
{
	my (@cmd) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
	die "@cmd failed:\n$stdout\n$stderr" unless $ok;
	return $stdout;
}

# install path => the directory with the new duroxide's files
my %new_files;

# a private copy of the PostgreSQL under test with the new duroxide in it
# (as installed by scripts/test.sh); returns its install path (bin/, lib/)
sub private_install
{
	my ($name) = @_;
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/$name";
	my $pg_config = run_or_die('bash', 'scripts/private-pg.sh', $dir);
	chomp $pg_config;
	my $install = dirname(dirname($pg_config));
	my $sharedir = run_or_die("$install/bin/pg_config", '--sharedir');
	my $pkglibdir = run_or_die("$install/bin/pg_config", '--pkglibdir');
	chomp($sharedir, $pkglibdir);

	# keep the new duroxide's files, for install_new
	my $keep = "$dir.new-duroxide";
	mkdir $keep;
	copy("$pkglibdir/duroxide.so", "$keep/duroxide.so") or die "duroxide.so: $!";
	for my $f (glob("$sharedir/extension/duroxide*"))
	{
		copy($f, "$keep/" . (split m{/}, $f)[-1]) or die "$f: $!";
	}
	$new_files{$install} = $keep;
	return $install;
}

# the extension directory and library directory of an installation
sub install_dirs
{
	my ($install) = @_;
	my $sharedir = run_or_die("$install/bin/pg_config", '--sharedir');
	my $pkglibdir = run_or_die("$install/bin/pg_config", '--pkglibdir');
	chomp($sharedir, $pkglibdir);
	return ("$sharedir/extension", $pkglibdir);
}

# build duroxide 0.1.0 (once per test run: the build directory in tmp_check
# is shared by the test files) and install it into a private installation
# (library, control file with default_version 0.1.0, install script)
sub install_old
{
	my ($install) = @_;
	my $src = old_source() or die 'no 0.1.0 source';
	my $build = "$PostgreSQL::Test::Utils::tmp_check/duroxide-0.1.0-build";
	unless (-f "$build/duroxide.so")
	{
		run_or_die('rm', '-rf', $build);
		run_or_die('cp', '-a', $src, $build);
		run_or_die('make', '-C', $build, '-s', 'clean');
		run_or_die('make', '-C', $build, '-s', "PG_CONFIG=$install/bin/pg_config");
	}
	# not the header: the include directory is shared with the system's
	run_or_die('make', '-C', $build, '-s', 'install', 'HEADERS_duroxide=', "PG_CONFIG=$install/bin/pg_config");
	return;
}

# only the 0.1.0 install script (CREATE EXTENSION duroxide VERSION '0.1.0'
# with the new library)
sub install_old_script
{
	my ($install) = @_;
	my $src = old_source() or die 'no 0.1.0 source';
	my ($extdir) = install_dirs($install);
	copy("$src/src/duroxide--0.1.0.sql", "$extdir/duroxide--0.1.0.sql") or die "copy: $!";
	return;
}

# put the new duroxide back (library, control file, scripts) over an old one
sub install_new
{
	my ($install) = @_;
	my ($extdir, $pkglibdir) = install_dirs($install);
	my $keep = $new_files{$install} or die "$install was not made by private_install";
	for my $f (glob("$keep/*"))
	{
		my $base = (split m{/}, $f)[-1];
		my $to = $base eq 'duroxide.so' ? "$pkglibdir/$base" : "$extdir/$base";
		unlink $to;
		copy($f, $to) or die "$f: $!";
	}
	return;
}

# postgresql.conf lines for a node with duroxide preloaded for "postgres"
sub node_conf
{
	my (%extra) = @_;
	my $conf = "shared_preload_libraries = 'duroxide'\n"
	  . "duroxide.database = 'postgres'\n"
	  . "duroxide.poll_interval = 200\n"
	  . "max_worker_processes = 16\n";
	$conf .= "$_ = $extra{$_}\n" for sort keys %extra;
	return $conf;
}

# workflows that wait (0.1.0's API, which 0.2.0 keeps):
#   WaitEvent   waits for event "go", returns its data
#   WaitTimer   sleeps input.ms on a durable timer, returns "woke"
#   WaitGate    calls activity Gate with retries; Gate fails until a row is
#               in public.gate, then returns "through"
#   Parent      calls WaitEvent as child input.child, returns its output
sub define_waiting
{
	my ($node, $db) = @_;
	$node->safe_psql(
		$db // 'postgres', q{
CREATE TABLE public.gate (opened_at timestamptz NOT NULL DEFAULT now());

CREATE FUNCTION public.wf_event(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.wait_for_event(ctx, 'go');
END
$$;

CREATE FUNCTION public.wf_timer(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.sleep(ctx, (input->>'ms')::bigint);
    RETURN to_jsonb('woke'::text);
END
$$;

CREATE FUNCTION public.gate(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.gate) THEN
        RAISE EXCEPTION 'gate closed';
    END IF;
    RETURN to_jsonb('through'::text);
END
$$;

CREATE FUNCTION public.wf_gate(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity_with_retry(ctx, 'Gate', input,
        '{"maxAttempts": 1000, "backoff": "fixed", "initialDelayMs": 200}');
END
$$;

CREATE FUNCTION public.wf_parent(ctx duroxide.context, input jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_sub_orchestration(ctx, 'WaitEvent', NULL, input->>'child');
END
$$;

SELECT duroxide.register_orchestration('WaitEvent', 'public.wf_event');
SELECT duroxide.register_orchestration('WaitTimer', 'public.wf_timer');
SELECT duroxide.register_orchestration('WaitGate', 'public.wf_gate');
SELECT duroxide.register_orchestration('Parent', 'public.wf_parent');
SELECT duroxide.register_activity('Gate', 'public.gate');
});
	return;
}

# start one instance of each waiting workflow, ids "$p-event", "$p-timer",
# "$p-gate", "$p-parent" (child "$p-child"); the timer waits $ms
sub start_waiting
{
	my ($node, $p, $ms, $db) = @_;
	$node->safe_psql(
		$db // 'postgres', qq{
SELECT duroxide.start_orchestration('$p-event', 'WaitEvent');
SELECT duroxide.start_orchestration('$p-timer', 'WaitTimer', '{"ms": $ms}');
SELECT duroxide.start_orchestration('$p-gate', 'WaitGate');
SELECT duroxide.start_orchestration('$p-parent', 'Parent', '{"child": "$p-child"}');
});
	return;
}

# the condition under which every instance of start_waiting waits
sub waiting_condition
{
	my ($p) = @_;
	return qq{SELECT count(DISTINCT instance_id || ':' || event_type) FROM duroxide.history
	 WHERE (instance_id, event_type) IN (('$p-event', 'EventSubscribed'),
	        ('$p-timer', 'TimerCreated'), ('$p-gate', 'ActivityAttemptFailed'),
	        ('$p-parent', 'SubOrchestrationScheduled'), ('$p-child', 'EventSubscribed'))};
}

# assert (polling) that all instances of start_waiting wait
sub waiting_reached
{
	my ($node, $p, $what, $db) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok($node->poll_query_until($db // 'postgres', waiting_condition($p), '5'),
		"$what: instances wait on an event, a timer, an activity and a child")
	  or diag($node->safe_psql($db // 'postgres',
			"SELECT instance_id || ' ' || status FROM duroxide.instances ORDER BY 1"));
}

# let the waiting instances of start_waiting finish (events, the gate)
sub release_waiting
{
	my ($node, $p, $db) = @_;
	$node->safe_psql(
		$db // 'postgres', qq{
SELECT duroxide.raise_event('$p-event', 'go', '"ev"');
SELECT duroxide.raise_event('$p-child', 'go', '"kid"');
INSERT INTO public.gate DEFAULT VALUES;
});
	return;
}

# assert (polling) that the instances of start_waiting completed with the
# right outputs
sub assert_waiting_completed
{
	my ($node, $p, $what, $db) = @_;
	$db //= 'postgres';
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ids = "('$p-event', '$p-timer', '$p-gate', '$p-parent', '$p-child')";
	$node->poll_query_until($db,
		"SELECT count(*) FROM duroxide.instances WHERE instance_id IN $ids AND status <> 'Running'", '5');
	is( $node->safe_psql(
			$db, qq{SELECT string_agg(instance_id || '=' || status || ':' || coalesce(output::text, error, ''), ' '
			           ORDER BY instance_id) FROM duroxide.instances WHERE instance_id IN $ids}),
		qq{$p-child=Completed:"kid" $p-event=Completed:"ev" $p-gate=Completed:"through" }
		  . qq{$p-parent=Completed:"kid" $p-timer=Completed:"woke"},
		"$what: every waiting instance completed with its output");
}

1;
