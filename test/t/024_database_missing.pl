# A duroxide.database that does not exist (a typo) is logged by the launcher
# once, naming the database and the setting; the launcher keeps waiting
# quietly and starts the workers when the database appears.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DuroxideTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('missingdb', 'duroxide.database' => 'postgress');
ok( $node->wait_for_log(
		qr/duroxide launcher: database "postgress" named by duroxide.database does not exist/),
	'the launcher logs the missing database and the setting');

# it keeps polling (every 200 ms): after a full second more, still one line
my $t0 = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->poll_query_until('postgres', "SELECT clock_timestamp() > '$t0'::timestamptz + interval '1 s'");
my @lines = grep { /named by duroxide.database does not exist/ } split /\n/, slurp_file($node->logfile);
is(scalar @lines, 1, 'logged once, not at every check');

$node->safe_psql('postgres', 'CREATE DATABASE postgress');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'duroxide dispatcher' AND datname = 'postgress'}, '2'),
	'the workers start once the database exists');

$node->stop;
done_testing();
