-- 60_protocol: the engine's protocol table (src/protocol.c), shown by
-- duroxide._protocol(), agrees with the install script and with what the
-- engine wrote; the function is internal.
\set SHOW_CONTEXT never

-- section: the table as SQL sees it
SELECT category, name, records, completes, from_child, elidable, producers
  FROM duroxide._protocol() ORDER BY category, name;

-- section: every kind an install-script function inserts into
-- orchestrator_queue is a message of the table produced by 'sql', and every
-- message the table says SQL produces is inserted by such a function
WITH bodies AS (
    SELECT p.proname, p.prosrc
      FROM pg_depend d
      JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
      JOIN pg_language l ON l.oid = p.prolang
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'duroxide')
       AND l.lanname IN ('sql', 'plpgsql')
), script AS (
    SELECT DISTINCT b.proname, m[1] AS kind
      FROM bodies b,
           regexp_matches(b.prosrc, 'INSERT INTO duroxide\.orchestrator_queue[^;]*?''([A-Za-z]+)''', 'g') m
), tab AS (
    SELECT name AS kind FROM duroxide._protocol()
     WHERE category = 'message' AND 'sql' = ANY (producers)
)
SELECT coalesce(s.proname, '(no install-script function)') AS function, coalesce(s.kind, t.kind) AS kind,
       s.kind IS NOT NULL AS in_script, t.kind IS NOT NULL AS in_table
  FROM script s FULL JOIN tab t ON t.kind = s.kind
 ORDER BY 2;

-- section: the table is consistent with itself: a message records an event
-- of the table; what it completes is a command; a completing message records
-- a completion event, and every completion event is recorded by one
SELECT m.name AS message, m.records, m.completes
  FROM duroxide._protocol() m
 WHERE m.category = 'message'
   AND (NOT EXISTS (SELECT 1 FROM duroxide._protocol() e
                     WHERE e.category <> 'message' AND e.name = m.records)
        OR (m.completes IS NOT NULL
            AND (NOT EXISTS (SELECT 1 FROM duroxide._protocol() e
                              WHERE e.category = 'command' AND e.name = m.completes)
                 OR NOT EXISTS (SELECT 1 FROM duroxide._protocol() e
                                 WHERE e.category = 'completion' AND e.name = m.records))));
SELECT e.name AS completion_recorded_by_no_message
  FROM duroxide._protocol() e
 WHERE e.category = 'completion'
   AND NOT EXISTS (SELECT 1 FROM duroxide._protocol() m
                    WHERE m.category = 'message' AND m.completes IS NOT NULL AND m.records = e.name);
-- elidable: exactly the completions
SELECT name AS elidable_mismatch FROM duroxide._protocol()
 WHERE category = 'message' AND elidable <> (completes IS NOT NULL);

-- section: an instance that records one of each kind of command and
-- completion uses only the table's names, and every message applied is one
CREATE SCHEMA proto;
SELECT duroxide.register_activity('ProtoEcho', 'regress.echo');
CREATE FUNCTION proto.child(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
SELECT duroxide.register_orchestration('ProtoChild', 'proto.child');
CREATE FUNCTION proto.parent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM duroxide.call_activity(ctx, 'ProtoEcho', '1');
    PERFORM duroxide.await(duroxide.schedule_timer(ctx, 10));
    PERFORM duroxide.wait_for_event(ctx, 'go');
    PERFORM duroxide.utc_now(ctx);
    RETURN duroxide.call_sub_orchestration(ctx, 'ProtoChild', '2', 'proto-1-child');
END
$$;
SELECT duroxide.register_orchestration('ProtoParent', 'proto.parent');
SELECT duroxide.start_orchestration('proto-1', 'ProtoParent', NULL);
CALL regress.wait_for_event_type('proto-1', 'EventSubscribed');
SELECT duroxide.raise_event('proto-1', 'go', '"now"');
SELECT status, output FROM duroxide.wait_for_orchestration('proto-1');
SELECT h.event_type, p.category
  FROM duroxide.get_history('proto-1') h
  LEFT JOIN duroxide._protocol() p ON p.category <> 'message' AND p.name = h.event_type
 ORDER BY h.event_id;
SELECT count(*) AS unknown_messages
  FROM duroxide.orchestrator_queue q
 WHERE NOT EXISTS (SELECT 1 FROM duroxide._protocol() p WHERE p.category = 'message' AND p.name = q.kind);

-- section: internal: a duroxide_user may not call it
CREATE ROLE dx_proto_hostile LOGIN IN ROLE duroxide_user;
SET ROLE dx_proto_hostile;
SELECT count(*) FROM duroxide._protocol();
RESET ROLE;
SELECT has_function_privilege('dx_proto_hostile', 'duroxide._protocol()', 'EXECUTE') AS hostile_may_execute,
       has_function_privilege('public', 'duroxide._protocol()', 'EXECUTE') AS public_may_execute;
DROP ROLE dx_proto_hostile;
