\set SHOW_CONTEXT never
-- set_activity_concurrency (API.md 8.3): with a limit of 1, a fan-out of
-- slow attempts never has two running at once, across both activity
-- workers; the limit is checked, owned and kept as documented.
--
-- How "at once" is seen without timing: each attempt holds a shared
-- session advisory lock on 4602 while its body runs (taken first, released
-- last), and counts the holders when it starts; two attempts whose bodies
-- overlap make the later one count 2.  (A transaction-level lock would not
-- do: it is released a moment after the commit that frees the slot is
-- visible, so the next attempt could see it.)  Each attempt also records its start
-- and end, which must not overlap another's.  duroxide.batch_size = 1 for
-- this file, so that both workers claim attempts (one worker claiming a
-- whole batch runs it serially, which would prove nothing).
ALTER SYSTEM SET duroxide.batch_size = 1;
SELECT pg_reload_conf();

CREATE SCHEMA al;
GRANT USAGE ON SCHEMA al TO PUBLIC;
CREATE TABLE al.runs (k text PRIMARY KEY, started timestamptz, ended timestamptz, seen bigint);

CREATE FUNCTION al.slow(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock_shared(4602);
    INSERT INTO al.runs VALUES (input->>'k', clock_timestamp(), NULL,
        (SELECT count(*) FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 4602 AND l.granted));
    PERFORM pg_sleep((input->>'s')::float8);
    UPDATE al.runs SET ended = clock_timestamp() WHERE k = input->>'k';
    PERFORM pg_advisory_unlock_shared(4602);
    RETURN input->'k';
END $$;

-- input: {"n": attempts, "tag": key prefix, "s": seconds each}
CREATE FUNCTION al.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks duroxide.task[] := '{}';
BEGIN
    FOR i IN 1 .. (input->>'n')::int LOOP
        tasks := tasks || duroxide.schedule_activity(ctx, 'AlSlow',
            jsonb_build_object('k', (input->>'tag') || i, 's', input->'s'));
    END LOOP;
    RETURN duroxide.await_all(tasks);
END $$;
SELECT duroxide.register_activity('AlSlow', 'al.slow');
SELECT duroxide.register_orchestration('AlFan', 'al.fan');

-- overlaps among the runs of a tag: pairs whose [started, ended] intersect,
-- and the most holders one attempt saw
CREATE FUNCTION al.overlaps(p_tag text) RETURNS TABLE (runs bigint, overlapping_pairs bigint, max_seen bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM al.runs r WHERE r.k LIKE p_tag || '%' AND r.ended IS NOT NULL),
           (SELECT count(*) FROM al.runs a JOIN al.runs b ON a.k < b.k
             WHERE a.k LIKE p_tag || '%' AND b.k LIKE p_tag || '%'
               AND a.started < b.ended AND b.started < a.ended),
           (SELECT max(r.seen) FROM al.runs r WHERE r.k LIKE p_tag || '%')
$$;

-- section: a limit of 1: six slow attempts, never two at once, all complete
SELECT duroxide.set_activity_concurrency('AlSlow', 1);
SELECT name, max_concurrent FROM duroxide.activity_limits;
SELECT duroxide.start_orchestration('al-1', 'AlFan', '{"n": 6, "tag": "one-", "s": 0.2}');
SELECT status, output FROM duroxide.wait_for_orchestration('al-1', 60000);
SELECT * FROM al.overlaps('one-');

-- section: a limit of 2: at most two at once
SELECT duroxide.set_activity_concurrency('AlSlow', 2);
SELECT name, max_concurrent FROM duroxide.activity_limits;
SELECT duroxide.start_orchestration('al-2', 'AlFan', '{"n": 6, "tag": "two-", "s": 0.2}');
SELECT status, jsonb_array_length(output) AS results FROM duroxide.wait_for_orchestration('al-2', 60000);
SELECT runs, max_seen <= 2 AS at_most_two FROM al.overlaps('two-');

-- section: NULL removes the limit; re-registering by the owner keeps it;
-- unregistering removes it
SELECT duroxide.set_activity_concurrency('AlSlow', NULL);
SELECT count(*) AS limits FROM duroxide.activity_limits;
SELECT duroxide.set_activity_concurrency('AlSlow', NULL);
SELECT duroxide.set_activity_concurrency('AlSlow', 3);
SELECT duroxide.register_activity('AlSlow', 'al.slow');
SELECT name, max_concurrent FROM duroxide.activity_limits;
SELECT duroxide.unregister_activity('AlSlow');
SELECT count(*) AS limits FROM duroxide.activity_limits;
SELECT duroxide.register_activity('AlSlow', 'al.slow');
SELECT count(*) AS limits FROM duroxide.activity_limits;

-- section: errors
SELECT duroxide.set_activity_concurrency('AlMissing', 1);
SELECT duroxide.set_activity_concurrency('AlSlow', 0);
SELECT duroxide.set_activity_concurrency('AlSlow', -5);
SELECT duroxide.set_activity_concurrency(NULL, 1);
SELECT duroxide.set_activity_concurrency('', 1);

-- section: only the registration's owner (or an admin) sets a limit; nobody
-- writes the table or calls the claim helpers directly
CREATE ROLE dx_al_owner LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_al_attacker LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_al_admin LOGIN IN ROLE duroxide_admin;
CREATE FUNCTION al.owned(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
ALTER FUNCTION al.owned OWNER TO dx_al_owner;
CREATE FUNCTION al.mine(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
ALTER FUNCTION al.mine OWNER TO dx_al_attacker;
SET ROLE dx_al_owner;
SELECT duroxide.register_activity('AlOwned', 'al.owned');
SELECT duroxide.set_activity_concurrency('AlOwned', 4);
RESET ROLE;
SET ROLE dx_al_attacker;
SELECT duroxide.set_activity_concurrency('AlOwned', 1);
SELECT duroxide.set_activity_concurrency('AlOwned', NULL);
SELECT name, max_concurrent FROM duroxide.activity_limits ORDER BY name;
INSERT INTO duroxide.activity_limits (name, max_concurrent) VALUES ('AlSlow', 1);
UPDATE duroxide.activity_limits SET max_concurrent = 1;
DELETE FROM duroxide.activity_limits;
SELECT duroxide._activity_slots_free('AlOwned', 0, true);
SELECT * FROM duroxide._claim_limited_activities(0, 0, 10, false);
RESET ROLE;
SELECT name, max_concurrent FROM duroxide.activity_limits ORDER BY name;
SET ROLE dx_al_admin;
SELECT duroxide.set_activity_concurrency('AlOwned', 2);
RESET ROLE;
SELECT name, max_concurrent FROM duroxide.activity_limits ORDER BY name;
-- a new owner of the name does not inherit the old owner's limit
SELECT duroxide.unregister_activity('AlOwned');
SET ROLE dx_al_attacker;
SELECT duroxide.register_activity('AlOwned', 'al.mine');
RESET ROLE;
SELECT count(*) AS limits FROM duroxide.activity_limits WHERE name = 'AlOwned';

-- section: cleanup
ALTER SYSTEM RESET duroxide.batch_size;
SELECT pg_reload_conf();
SELECT duroxide.delete_instance(id) FROM unnest(ARRAY['al-1', 'al-2']) id;
SELECT duroxide.unregister_orchestration('AlFan');
SELECT duroxide.unregister_activity(n) FROM unnest(ARRAY['AlSlow', 'AlOwned']) n;
DROP SCHEMA al CASCADE;
DROP ROLE dx_al_owner;
DROP ROLE dx_al_attacker;
DROP ROLE dx_al_admin;
