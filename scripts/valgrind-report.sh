#!/usr/bin/env bash
# scripts/valgrind-report.sh LOGDIR SRCDIR -- judge the memcheck logs of a valgrind run
#
# Reads the per-process logs that the wrapper of scripts/valgrind-pg.sh
# writes (LOGDIR/<pid>.log), groups the errors the suppressions did not
# hide by their stack, and prints each distinct one once with the number of
# times and processes it occurred in:
#
#   - errors with a frame in duroxide's code (a source file of SRCDIR/src,
#     or duroxide.so) are failures: printed in full, with the first duroxide
#     frame (file:line) and the ready-made suppression valgrind wrote;
#   - errors entirely in PostgreSQL or the C library are not duroxide's:
#     they are listed with their suppression so that test/valgrind.supp can
#     be completed, but do not fail the run.
#
# Also reports processes that valgrind itself stopped (a "Process
# terminating" block: a crash under valgrind).  Last line:
# "valgrind: N duroxide errors (M occurrences), K other errors, P processes".
# Exit status 1 when a duroxide error or a valgrind-stopped process was found.
set -euo pipefail
logdir="${1:?usage: valgrind-report.sh LOGDIR SRCDIR}"
srcdir="${2:?usage: valgrind-report.sh LOGDIR SRCDIR}"

perl - "$logdir" "$srcdir" <<'PERL'
use strict;
use warnings;

use Cwd qw(abs_path);

my ($logdir, $srcdir) = @ARGV;
$logdir = abs_path($logdir) // $logdir;
my %ours = map { m{([^/]+)$}; ($1 => 1) } glob("$srcdir/src/*.c"), glob("$srcdir/src/*.h");

# a frame is duroxide's when it names one of its source files or its library
sub our_frame
{
	my ($line) = @_;
	return 1 if $line =~ m{duroxide\.so};
	return 1 if $line =~ m{[(/]src/([^/():]+\.[ch]):\d+\)} && $ours{$1};
	return 0;
}

my (%err, @order, $procs, @stopped);
for my $file (sort glob("$logdir/*.log"))
{
	open my $fh, '<', $file or die "$file: $!";
	my @lines = <$fh>;
	close $fh;
	$procs++;
	(my $pid = $file) =~ s{^.*/|\.log$}{}g;
	my $i = 0;
	while ($i < @lines)
	{
		if ($lines[$i] =~ /VALGRINDERROR-BEGIN/)
		{
			my @body;
			$i++;
			while ($i < @lines && $lines[$i] !~ /VALGRINDERROR-END/)
			{
				(my $l = $lines[$i]) =~ s/^==\d+==\s?//;
				push @body, $l unless $l =~ /^\s*$/;
				$i++;
			}
			$i++;
			# the suppression valgrind generated follows the end marker
			my @supp;
			if ($i < @lines && $lines[$i] =~ /^\{/)
			{
				while ($i < @lines)
				{
					push @supp, $lines[$i];
					last if $lines[$i++] =~ /^\}/;
				}
			}
			# the signature: kind and the function/file of each frame, without addresses
			my @frames = grep { /^\s+(at|by) 0x/ } @body;
			my $sig = join('', $body[0] // '', map { (my $f = $_) =~ s/0x[0-9A-F]+: //; $f } @frames);
			unless ($err{$sig})
			{
				push @order, $sig;
				my ($first) = grep { our_frame($_) } @frames;
				$err{$sig} = { body => \@body, supp => \@supp, ours => defined $first,
							   first => $first, n => 0, pids => {} };
			}
			$err{$sig}{n}++;
			$err{$sig}{pids}{$pid} = 1;
			next;
		}
		if ($lines[$i] =~ /^==\d+== Process terminating/)
		{
			my @block;
			while ($i < @lines && $lines[$i] =~ /^==\d+== \S|^==\d+==    /)
			{
				push @block, $lines[$i++];
			}
			push @stopped, [ $pid, @block ];
			next;
		}
		$i++;
	}
}

my @ours = grep { $err{$_}{ours} } @order;
my @other = grep { !$err{$_}{ours} } @order;
my $occ = 0;
$occ += $err{$_}{n} for @ours;

my $k = 0;
for my $sig (@ours)
{
	my $e = $err{$sig};
	$k++;
	my $where = $e->{first};
	$where =~ s/^\s+(at|by) 0x[0-9A-F]+: //;
	chomp $where;
	printf "\n==== duroxide error %d of %d: %s", $k, scalar(@ours), $e->{body}[0];
	printf "     first duroxide frame: %s\n", $where;
	printf "     %d time(s), in process(es) %s (logs in %s)\n", $e->{n},
	  join(' ', sort { $a <=> $b } keys %{ $e->{pids} }), $logdir;
	print map { "  $_" } @{ $e->{body} };
}
$k = 0;
for my $sig (@other)
{
	my $e = $err{$sig};
	$k++;
	printf "\n---- not duroxide's (PostgreSQL or libc), %d of %d, %d time(s): %s", $k,
	  scalar(@other), $e->{n}, $e->{body}[0];
	print map { "  $_" } @{ $e->{body} }[ 1 .. ($#{ $e->{body} } < 8 ? $#{ $e->{body} } : 8) ];
	print "  suppression:\n", map { "    $_" } @{ $e->{supp} };
}
for my $s (@stopped)
{
	my ($pid, @block) = @$s;
	print "\n==== valgrind stopped process $pid:\n", map { s/^==\d+== /  /r } @block;
}
printf "valgrind: %d duroxide errors (%d occurrences), %d other errors, %d processes%s\n",
  scalar(@ours), $occ, scalar(@other), $procs // 0,
  @stopped ? sprintf(", %d stopped by valgrind", scalar(@stopped)) : '';
exit((@ours || @stopped) ? 1 : 0);
PERL
