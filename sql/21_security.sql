\set SHOW_CONTEXT never
-- Security: user code runs as the role that registered it; duroxide_user
-- roles see and control only their own instances; duroxide_admin sees all.
CREATE ROLE dx_alice LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_bob LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_admin LOGIN IN ROLE duroxide_admin;
CREATE ROLE dx_nobody LOGIN;
CREATE SCHEMA sec;
GRANT USAGE ON SCHEMA sec TO PUBLIC;
CREATE TABLE sec.private (x int);           -- nobody but the superuser may write it
CREATE TABLE sec.alice_log (who text);
GRANT INSERT, SELECT ON sec.alice_log TO dx_alice;

CREATE FUNCTION sec.write_private(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN INSERT INTO sec.private VALUES (1); RETURN '"wrote"'; END $$;
CREATE FUNCTION sec.write_log(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN INSERT INTO sec.alice_log VALUES (current_user); RETURN to_jsonb(current_user::text); END $$;
CREATE FUNCTION sec.orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('orchestration_ran_as', current_user::text,
                              'activity', duroxide.call_activity(ctx, input->>'activity'));
END $$;
CREATE FUNCTION sec.waiter(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.wait_for_event(ctx, 'go'); END $$;
ALTER FUNCTION sec.write_private OWNER TO dx_alice;
ALTER FUNCTION sec.write_log OWNER TO dx_alice;
ALTER FUNCTION sec.orch OWNER TO dx_alice;
ALTER FUNCTION sec.waiter OWNER TO dx_alice;

-- section: registering needs EXECUTE on the function
CREATE FUNCTION sec.locked(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
REVOKE EXECUTE ON FUNCTION sec.locked FROM PUBLIC;
SET ROLE dx_bob;
SELECT duroxide.register_orchestration('SecLocked', 'sec.locked');
RESET ROLE;

-- section: code runs as its registering role, never as the worker's superuser
SET ROLE dx_alice;
SELECT duroxide.register_activity('SecWritePrivate', 'sec.write_private');
SELECT duroxide.register_activity('SecWriteLog', 'sec.write_log');
SELECT duroxide.register_orchestration('SecOrch', 'sec.orch');
SELECT duroxide.register_orchestration('SecWaiter', 'sec.waiter');
SELECT duroxide.start_orchestration('sec-private', 'SecOrch', '{"activity": "SecWritePrivate"}');
SELECT duroxide.start_orchestration('sec-log', 'SecOrch', '{"activity": "SecWriteLog"}');
SELECT duroxide.start_orchestration('sec-wait', 'SecWaiter');
SELECT status, error FROM duroxide.wait_for_orchestration('sec-private', 10000);
SELECT status, output FROM duroxide.wait_for_orchestration('sec-log', 10000);
RESET ROLE;
SELECT count(*) AS private_rows FROM sec.private;
SELECT who FROM sec.alice_log;

-- section: another user neither sees nor controls alice's instances
SET ROLE dx_bob;
SELECT status FROM duroxide.get_orchestration_status('sec-wait');
SELECT duroxide.raise_event('sec-wait', 'go', '"from bob"');
SELECT duroxide.cancel_orchestration('sec-wait');
SELECT duroxide.delete_instance('sec-log');
SELECT * FROM duroxide.wait_for_orchestration('sec-log', 100);
SELECT count(*) FROM duroxide.instance_list;
SELECT count(*) FROM duroxide.get_history('sec-log');
-- nor take over her registrations
SELECT duroxide.register_orchestration('SecOrch', 'sec.orch');
SELECT duroxide.unregister_activity('SecWriteLog');
-- direct writes to the engine's tables are refused or filtered
UPDATE duroxide.instances SET status = 'Completed' WHERE instance_id = 'sec-wait';
DELETE FROM duroxide.instances WHERE instance_id = 'sec-wait';
INSERT INTO duroxide.orchestrator_queue (instance_id, kind) VALUES ('sec-wait', 'EventRaised');
RESET ROLE;
SELECT status FROM duroxide.get_orchestration_status('sec-wait');

-- section: a role without duroxide_user cannot use the engine's tables
SET ROLE dx_nobody;
SELECT duroxide.start_orchestration('sec-nobody', 'SecOrch', '{"activity": "SecWriteLog"}');
RESET ROLE;

-- section: an admin sees and controls every instance
SET ROLE dx_admin;
SELECT count(*) > 0 AS sees_alice FROM duroxide.instance_list WHERE owner = 'dx_alice'::regrole;
SELECT duroxide.raise_event('sec-wait', 'go', '"from admin"');
SELECT status, output FROM duroxide.wait_for_orchestration('sec-wait', 10000);
RESET ROLE;

-- section: alice controls her own
SET ROLE dx_alice;
SELECT duroxide.start_orchestration('sec-wait-2', 'SecWaiter');
SELECT duroxide.cancel_orchestration('sec-wait-2', 'changed my mind');
SELECT status, error FROM duroxide.wait_for_orchestration('sec-wait-2', 10000);
SELECT duroxide.delete_instance('sec-wait-2');
SELECT status FROM duroxide.get_orchestration_status('sec-wait-2');
RESET ROLE;

-- section: names and payloads reach SQL only as parameters
CREATE FUNCTION sec.echo_orch(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'Sec''Echo"\', input); END $$;
SELECT duroxide.register_activity('Sec''Echo"\', 'regress.echo');
SELECT duroxide.register_orchestration('Sec''Orch"\ ünï', 'sec.echo_orch');
SELECT duroxide.start_orchestration($$x'); DROP TABLE sec.private; --$$, 'Sec''Orch"\ ünï',
                                    '{"q": "it''s \"quoted\" \\ ünïcödé"}');
SELECT status, output FROM duroxide.wait_for_orchestration($$x'); DROP TABLE sec.private; --$$, 10000);
SELECT count(*) AS private_table_still_there FROM sec.private;
SELECT duroxide.start_orchestration(repeat('k', 10240), 'Sec''Orch"\ ünï');
SELECT duroxide.start_orchestration('sec-long-name', repeat('n', 10240));
