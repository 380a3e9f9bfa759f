-- 41_external_security: external tasks belong to the role that registered
-- the activity. Only that role, a role with its privileges, or an admin may
-- claim, complete, fail, heartbeat or release them, or schedule the
-- activity; a hostile duroxide_user gets nothing and learns nothing.
\set SHOW_CONTEXT never
CREATE ROLE dx_ext_owner LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_ext_member LOGIN IN ROLE duroxide_user, dx_ext_owner;
CREATE ROLE dx_ext_hostile LOGIN IN ROLE duroxide_user;
CREATE ROLE dx_ext_admin LOGIN IN ROLE duroxide_admin;
CREATE ROLE dx_ext_nobody LOGIN;
CREATE SCHEMA extsec;
GRANT USAGE ON SCHEMA extsec TO PUBLIC;
CREATE FUNCTION extsec.pay(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'SecExtCharge', input); END $$;
ALTER FUNCTION extsec.pay OWNER TO dx_ext_owner;
CREATE FUNCTION extsec.steal(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN duroxide.call_activity(ctx, 'SecExtCharge', input); END $$;
ALTER FUNCTION extsec.steal OWNER TO dx_ext_hostile;
CREATE FUNCTION extsec.evil(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT input $$;
ALTER FUNCTION extsec.evil OWNER TO dx_ext_hostile;

-- section: the owner registers the external activity and starts a payment
SET ROLE dx_ext_owner;
SELECT duroxide.register_external_activity('SecExtCharge', 'pay');
SELECT duroxide.register_orchestration('SecExtPay', 'extsec.pay');
SELECT duroxide.start_orchestration('sec-ext-1', 'SecExtPay', '{"card": "4111", "amount": 10}');
RESET ROLE;
CALL regress.wait_for_event_type('sec-ext-1', 'ActivityScheduled');

-- section: the hostile role claims nothing and sees nothing of the task
SET ROLE dx_ext_hostile;
SELECT count(*) AS claimed FROM duroxide.claim_tasks('pay', 'evil', 10, 30000, 0);
SELECT count(*) AS claimed_after_wait FROM duroxide.claim_tasks('pay', 'evil', 10, 30000, 100);
SELECT count(*) AS visible_tasks FROM duroxide.worker_queue;
SELECT worker_queue FROM duroxide.get_queue_depths();
SELECT task_queue, pending, leased FROM duroxide.task_queues WHERE task_queue = 'pay';
RESET ROLE;

-- section: the owner sees its task in the view
SET ROLE dx_ext_owner;
SELECT task_queue, pending, leased FROM duroxide.task_queues WHERE task_queue = 'pay';
RESET ROLE;

-- section: the hostile role can neither take over nor remove the registration
SET ROLE dx_ext_hostile;
SELECT duroxide.register_external_activity('SecExtCharge', 'evil-q');
SELECT duroxide.register_activity('SecExtCharge', 'extsec.evil');
SELECT duroxide.unregister_activity('SecExtCharge');
RESET ROLE;
SELECT task_queue, owner FROM duroxide.activities WHERE name = 'SecExtCharge';

-- section: a member of the owner sees the task it may claim (though not the
-- instance), and claims it
SET ROLE dx_ext_member;
SELECT task_queue, pending, leased FROM duroxide.task_queues WHERE task_queue = 'pay';
SELECT activity_name, input FROM duroxide.worker_queue;
SELECT status FROM duroxide.get_orchestration_status('sec-ext-1');
SELECT task_id AS t1, lease_token AS l1, input FROM duroxide.claim_tasks('pay', 'member-worker', 1, 30000, 0) \gset
\echo :input
RESET ROLE;

-- section: with the real task id and lease token, the hostile role still
-- gets false from every call, and nothing changes
SET ROLE dx_ext_hostile;
SELECT duroxide.complete_task(:t1, :'l1', '"stolen"') AS complete,
       duroxide.fail_task(:t1, :'l1', 'sabotage') AS fail,
       duroxide.heartbeat_task(:t1, :'l1', 86400000) AS heartbeat,
       duroxide.release_task(:t1, :'l1') AS release;
SELECT duroxide.complete_tasks(ARRAY[:t1]::bigint[], ARRAY[:'l1']::uuid[], ARRAY['"stolen"'::jsonb]) AS complete_many;
UPDATE duroxide.worker_queue SET lease_token = NULL;
DELETE FROM duroxide.worker_queue;
RESET ROLE;
SELECT worker_id, delivery_count, lease_expires_at < now() + interval '1 min' AS lease_unchanged
  FROM duroxide.worker_queue WHERE id = :t1;
SELECT count(*) AS messages FROM duroxide.orchestrator_queue WHERE instance_id = 'sec-ext-1';

-- section: the member completes it
SET ROLE dx_ext_member;
SELECT duroxide.complete_task(:t1, :'l1', '{"charged": true}');
RESET ROLE;
SELECT status, output FROM duroxide.wait_for_orchestration('sec-ext-1', 30000);

-- section: the hostile role cannot schedule the owner's external activity
-- (its orchestration fails), so it cannot feed input to the owner's workers
SET ROLE dx_ext_hostile;
SELECT duroxide.register_orchestration('SecExtSteal', 'extsec.steal');
SELECT duroxide.start_orchestration('sec-ext-steal', 'SecExtSteal', '{"card": "evil"}');
SELECT status, error FROM duroxide.wait_for_orchestration('sec-ext-steal', 30000);
RESET ROLE;
SELECT count(*) AS tasks FROM duroxide.worker_queue WHERE instance_id = 'sec-ext-steal';

-- section: an admin may claim and complete any role's tasks
SET ROLE dx_ext_owner;
SELECT duroxide.start_orchestration('sec-ext-2', 'SecExtPay', '{"amount": 20}');
RESET ROLE;
SET ROLE dx_ext_admin;
SELECT task_id AS t2, lease_token AS l2 FROM duroxide.claim_tasks('pay', 'admin-worker', 1, 30000, 30000) \gset
SELECT duroxide.complete_task(:t2, :'l2', '"by admin"');
RESET ROLE;
SELECT status, output FROM duroxide.wait_for_orchestration('sec-ext-2', 30000);

-- section: a role that is not a duroxide user cannot call the protocol
SET ROLE dx_ext_nobody;
SELECT * FROM duroxide.claim_tasks('pay', 'w');
SELECT duroxide.complete_task(1, gen_random_uuid(), '1');
SELECT duroxide.fail_task(1, gen_random_uuid(), 'x');
SELECT duroxide.heartbeat_task(1, gen_random_uuid());
SELECT duroxide.release_task(1, gen_random_uuid());
SELECT duroxide.complete_tasks('{}', '{}', '{}');
SELECT duroxide.register_external_activity('SecExtNobody', 'q');
RESET ROLE;

-- section: who may execute what
SELECT p.proname, has_function_privilege('dx_ext_nobody', p.oid, 'EXECUTE') AS nobody,
       has_function_privilege('dx_ext_hostile', p.oid, 'EXECUTE') AS duroxide_user
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'duroxide'
   AND p.proname IN ('claim_tasks', 'complete_task', 'complete_tasks', 'fail_task', 'heartbeat_task', 'release_task',
                     'register_external_activity', '_wake_task_queue')
 ORDER BY 1;
SELECT has_table_privilege('dx_ext_hostile', 'duroxide.task_queues', 'SELECT') AS view_select,
       has_table_privilege('dx_ext_nobody', 'duroxide.task_queues', 'SELECT') AS nobody_view_select;

-- section: clean up
SELECT duroxide.delete_instance(i, true) FROM unnest(ARRAY['sec-ext-1', 'sec-ext-2', 'sec-ext-steal']) i;
DROP SCHEMA extsec CASCADE;
SELECT duroxide.unregister_activity('SecExtCharge');
DROP OWNED BY dx_ext_owner, dx_ext_member, dx_ext_hostile, dx_ext_admin, dx_ext_nobody;
DROP ROLE dx_ext_owner, dx_ext_member, dx_ext_hostile, dx_ext_admin, dx_ext_nobody;
