-- examples/approval.sql -- a human-in-the-loop approval workflow.
--
-- A request is recorded, then the workflow waits for someone to approve or
-- reject it -- but not forever: the wait races an approval event against a
-- durable timer.  Whichever comes first decides, and the request row is
-- updated with the outcome.  The wait survives server restarts: both the
-- subscription and the timer are durable.
--
--   psql -d mydb -f examples/approval.sql
--
--   -- start it (timeout_ms: how long to wait for a decision)
--   SELECT duroxide.start_orchestration('approval-1', 'ApprovalWorkflow',
--            '{"requester": "alice", "item": "new laptop", "timeout_ms": 3600000}');
--
--   -- later, from any session: approve (or {"approved": false, ...} to reject)
--   SELECT duroxide.raise_event('approval-1', 'approval', '{"approved": true, "by": "bob"}');
--
--   SELECT output FROM duroxide.wait_for_orchestration('approval-1');
--   -- {"by": "bob", "request": 1, "decision": "approved"}
--
--   -- and with no decision before the deadline:
--   -- {"request": 2, "decision": "timed_out"}
--
-- While it waits, the instance's custom status says so, which lets a UI (or
-- the demo script) see that the request is ready to be decided:
--
--   SELECT custom_status FROM duroxide.get_orchestration_status('approval-1');
--   -- {"state": "awaiting_approval", "request": 1}
--
-- Safe to run again: everything is IF NOT EXISTS / CREATE OR REPLACE, and
-- registering the same name again replaces the registration.

CREATE SCHEMA IF NOT EXISTS duroxide_examples;

-- The business table.  Only activities write it: orchestration code is
-- replayed many times and may not write tables (the engine refuses it).
CREATE TABLE IF NOT EXISTS duroxide_examples.requests (
    id          bigserial PRIMARY KEY,
    instance_id text NOT NULL UNIQUE,      -- the workflow instance that owns the request
    requester   text,
    item        text,
    status      text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'timed_out')),
    decided_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz
);

-- Activity SubmitRequest: record the request, return its id.
--
-- An activity's writes commit in the same transaction that records its
-- result, so the row is inserted exactly once even if a worker crashes.
-- Keying the row on the instance id also makes the activity idempotent when
-- an instance id is reused after duroxide.delete_instance.
CREATE OR REPLACE FUNCTION duroxide_examples.submit_request(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request_id bigint;
BEGIN
    INSERT INTO duroxide_examples.requests (instance_id, requester, item)
    VALUES (ctx.instance_id, input->>'requester', input->>'item')
    ON CONFLICT (instance_id) DO UPDATE
        SET requester = EXCLUDED.requester, item = EXCLUDED.item, status = 'pending',
            decided_by = NULL, created_at = now(), decided_at = NULL
    RETURNING id INTO request_id;

    PERFORM duroxide.trace_info(ctx, format('request %s submitted by %s', request_id, input->>'requester'));
    RETURN to_jsonb(request_id);
END
$$;

-- Activity FinalizeRequest: store the decision on the request row.
-- input: {"request": id, "decision": "approved" | "rejected" | "timed_out", "by": who}
CREATE OR REPLACE FUNCTION duroxide_examples.finalize_request(ctx duroxide.activity_context, input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE duroxide_examples.requests
       SET status = input->>'decision',
           decided_by = input->>'by',
           decided_at = now()
     WHERE id = (input->>'request')::bigint;
    IF NOT FOUND THEN
        -- raising fails the activity; the orchestration sees this message
        RAISE EXCEPTION 'request % does not exist', input->>'request';
    END IF;
    RETURN input;
END
$$;

-- Orchestration ApprovalWorkflow.
-- input: {"requester": text, "item": text, "timeout_ms": bigint (default: one day)}
--
-- Remember that the engine replays this function from the top on every turn,
-- answering each durable call from history.  So it only does deterministic
-- work: everything that touches the outside world (the table) is an activity,
-- and the deadline comes from the input, not from now().
CREATE OR REPLACE FUNCTION duroxide_examples.approval_workflow(ctx duroxide.context, input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    request_id bigint;
    approval   duroxide.task;   -- completes with the event's data
    deadline   duroxide.task;   -- completes with null when the timer fires
    winner     integer;         -- 1-based position of the first task to finish
    answer     jsonb;           -- that task's value
    outcome    jsonb;
BEGIN
    -- 1. Record the request.  The first turn schedules the activity and
    --    ends; the next turn finds its result in history and goes on.
    request_id := duroxide.call_activity(ctx, 'SubmitRequest', input)::bigint;

    -- 2. Let clients see that a decision is awaited (visible once this turn
    --    commits, i.e. when the wait below is in place).
    PERFORM duroxide.set_custom_status(ctx,
        jsonb_build_object('state', 'awaiting_approval', 'request', request_id));

    -- 3. Race the approval event against the deadline.  schedule_* only
    --    starts the tasks; await_any waits for the first one to finish and
    --    cancels the other (a late approval is then simply ignored).
    approval := duroxide.schedule_wait_for_event(ctx, 'approval');
    deadline := duroxide.schedule_timer(ctx, coalesce((input->>'timeout_ms')::bigint, 86400000));

    SELECT a.index, a.value INTO winner, answer
      FROM duroxide.await_any(ARRAY[approval, deadline]) AS a;

    -- 4. Decide.  The event's data is whatever raise_event passed:
    --    {"approved": true|false, "by": "..."}; anything but an explicit
    --    approval counts as a rejection.
    IF winner = 1 THEN
        outcome := jsonb_build_object(
            'request', request_id,
            'decision', CASE WHEN answer->'approved' = 'true'::jsonb
                             THEN 'approved' ELSE 'rejected' END,
            'by', answer->'by');
    ELSE
        outcome := jsonb_build_object('request', request_id, 'decision', 'timed_out');
    END IF;

    -- 5. Store the decision (an activity again), then finish: the returned
    --    value becomes the instance's output.
    PERFORM duroxide.call_activity(ctx, 'FinalizeRequest', outcome);
    RETURN outcome;
END
$$;

SELECT duroxide.register_activity('SubmitRequest', 'duroxide_examples.submit_request');
SELECT duroxide.register_activity('FinalizeRequest', 'duroxide_examples.finalize_request');
SELECT duroxide.register_orchestration('ApprovalWorkflow', 'duroxide_examples.approval_workflow');
