# A fresh install of the newest version and 0.1.0 plus the upgrade scripts
# give the same catalog.
#
# Database "upgraded" gets CREATE EXTENSION duroxide VERSION '0.1.0' (with
# the 0.1.0 library, built from tag v0.1.0) and then ALTER EXTENSION
# duroxide UPDATE (with the new library); database "fresh" gets CREATE
# EXTENSION duroxide.  Compared, as text, with a unified diff when they
# differ:
#   1. pg_dump --schema-only of each database, after every member object
#      was detached from the extension (ALTER EXTENSION ... DROP), so that
#      pg_dump writes out their definitions (pg_dump skips extension
#      members), the way PostGIS checks its upgrades.  Columns in order,
#      defaults, constraints, indexes, functions and their bodies and
#      settings, views, policies, triggers, grants, comments.  Normalised:
#      only pg_dump's comment lines, blank lines and the \restrict lines
#      (a random key per dump).
#   2. the member objects with their ACLs and comments, the initial
#      privileges pg_dump relies on (pg_init_privs), and the extension row
#      (version, configuration tables and their conditions).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DxLifecycle;

unless (old_source())
{
	fail('the duroxide 0.1.0 source is available (DUROXIDE_OLD_SRC)');
	done_testing();
	exit;
}

my $install = private_install('catalog_install');
install_old($install);

my $node = PostgreSQL::Test::Cluster->new('catalog', install_path => $install);
$node->init;
# preloaded (its settings need it); the workers serve "postgres", which has no duroxide
$node->append_conf('postgresql.conf', node_conf());
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');

$node->safe_psql('upgraded', q{CREATE EXTENSION duroxide VERSION '0.1.0'});
# the new library: every new session loads it
install_new($install);
$node->restart;
$node->safe_psql('upgraded', 'ALTER EXTENSION duroxide UPDATE');
$node->safe_psql('fresh', 'CREATE EXTENSION duroxide');

my $version_sql = q{SELECT extversion FROM pg_extension WHERE extname = 'duroxide'};
is($node->safe_psql('upgraded', $version_sql), $node->safe_psql('fresh', $version_sql),
	'both databases have the newest version');

# the catalog facts pg_dump does not print for extension members
my $members_sql = q{
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
       || coalesce(' acl ' || CASE d.classid
            WHEN 'pg_class'::regclass THEN (SELECT relacl::text FROM pg_class WHERE oid = d.objid)
            WHEN 'pg_proc'::regclass THEN (SELECT proacl::text FROM pg_proc WHERE oid = d.objid)
            WHEN 'pg_type'::regclass THEN (SELECT typacl::text FROM pg_type WHERE oid = d.objid)
            WHEN 'pg_namespace'::regclass THEN (SELECT nspacl::text FROM pg_namespace WHERE oid = d.objid)
          END, '')
       || coalesce(' comment ' || quote_literal(obj_description(d.objid, d.classid::regclass::name)), '')
  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'duroxide' AND d.deptype = 'e'
UNION ALL
SELECT 'init_privs ' || pg_describe_object(p.classoid, p.objoid, p.objsubid) || ' '
       || p.privtype::text || ' ' || p.initprivs::text
  FROM pg_init_privs p
 WHERE EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
                WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'duroxide'
                  AND d.deptype = 'e' AND d.classid = p.classoid AND d.objid = p.objoid)
UNION ALL
SELECT 'extension ' || e.extname || ' version ' || e.extversion || ' schema ' || e.extnamespace::regnamespace
       || ' relocatable ' || e.extrelocatable
  FROM pg_extension e WHERE e.extname = 'duroxide'
UNION ALL
SELECT 'config ' || c.relid::regclass::text || ' condition ' || quote_literal(c.cond)
  FROM pg_extension e,
       unnest(e.extconfig, e.extcondition) AS c(relid, cond)
 WHERE e.extname = 'duroxide'
ORDER BY 1};

# ALTER EXTENSION duroxide DROP ... for every member.  Which objects are
# members of their own differs between versions (17 also records table row
# types and array types, which go with their table or element type), so
# detach in passes until none is left, skipping those already gone.
my $detach_sql = q{
DO $$
DECLARE
    r record;
    detached integer;
    left_over integer;
BEGIN
    LOOP
        detached := 0;
        FOR r IN
            SELECT CASE o.type WHEN 'composite type' THEN 'type' ELSE o.type END AS type, o.identity
              FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid,
                   pg_identify_object(d.classid, d.objid, d.objsubid) o
             WHERE e.extname = 'duroxide' AND d.deptype = 'e'
             ORDER BY o.type LIKE '%type', o.identity LIKE '%[]', o.type, o.identity
        LOOP
            BEGIN
                EXECUTE format('ALTER EXTENSION duroxide DROP %s %s', r.type, r.identity);
                detached := detached + 1;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                NULL;       -- left with its table or element type
            END;
        END LOOP;
        SELECT count(*) INTO left_over
          FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
         WHERE e.extname = 'duroxide' AND d.deptype = 'e';
        EXIT WHEN left_over = 0;
        IF detached = 0 THEN
            RAISE EXCEPTION '% members of duroxide cannot be detached', left_over;
        END IF;
    END LOOP;
END
$$};

# write $text to a file in tmp_check, return its name
sub write_file
{
	my ($name, $text) = @_;
	my $file = "$PostgreSQL::Test::Utils::tmp_check/$name";
	open my $fh, '>', $file or die "$file: $!";
	print $fh $text;
	close $fh;
	return $file;
}

# a unified diff of two files ('' when equal)
sub diff_files
{
	my ($a, $b) = @_;
	my ($out, $err);
	IPC::Run::run([ 'diff', '-u', $a, $b ], '>', \$out, '2>', \$err);
	return $out . $err;
}

# assert that two texts are equal; on failure show the unified diff
sub same_text
{
	my ($what, $fresh, $upgraded) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	(my $tag = $what) =~ s/\W+/_/g;
	my $ff = write_file("031_${tag}_fresh.txt", $fresh);
	my $fu = write_file("031_${tag}_upgraded.txt", $upgraded);
	my $diff = diff_files($ff, $fu);
	ok($diff eq '', "$what: fresh install and upgrade are the same")
	  or diag("$what differ (- fresh 0.2.0 install, + 0.1.0 and upgrade scripts):\n$diff");
}

my %members;
$members{$_} = $node->safe_psql($_, $members_sql) for qw(fresh upgraded);
ok($members{fresh} =~ /^member table duroxide\.instances/m, 'the member list is not empty');
same_text('members, privileges and configuration tables', $members{fresh}, $members{upgraded});

my %dump;
for my $db (qw(fresh upgraded))
{
	$node->safe_psql($db, $detach_sql);
	my ($stdout, $stderr);
	IPC::Run::run([ $node->installed_command('pg_dump'), '--schema-only', '-d', $node->connstr($db) ],
		'>', \$stdout, '2>', \$stderr)
	  or die "pg_dump $db failed: $stderr";
	$dump{$db} = join('', grep { !/^--/ && !/^\s*$/ && !/^\\(un)?restrict / } split /^/, $stdout);
}
ok($dump{fresh} =~ /CREATE TABLE duroxide\.instances/, 'the dump contains the detached objects');
same_text('pg_dump --schema-only', $dump{fresh}, $dump{upgraded});

$node->stop;
done_testing();
