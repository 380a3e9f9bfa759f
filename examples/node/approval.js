'use strict';
// examples/node/approval.js -- the ApprovalWorkflow of examples/approval.sql,
// driven from Node.js with the pg-duroxide Client.
//
// The workflow (PL/pgSQL, in the database) records a request, then races an
// "approval" event against a durable timer.  This script plays the
// application around it:
//   1. starts a request and, as the approver, approves it as soon as the
//      instance's custom status says it is waiting  -> "approved"
//   2. starts one that nobody decides, with a 1.5 s deadline -> "timed_out"
//   3. starts one and rejects it                      -> "rejected"
//
//   node examples/node/approval.js     (PG* variables or DATABASE_URL name the database,
//                                       where examples/approval.sql was loaded)

const { Client } = require('../../clients/node'); // in an application: require('pg-duroxide')

// poll the instance's custom status until the workflow waits for a decision
// (what a UI would show); bounded
async function untilAwaiting(client, id) {
  for (let i = 0; i < 500; i++) {
    const st = await client.getOrchestrationStatus(id);
    if (st.customStatus && st.customStatus.state === 'awaiting_approval') return st.customStatus;
    if (st.status !== 'Running') throw new Error(`${id} ended early: ${st.status} ${st.error || ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${id} never waited for approval`);
}

async function main() {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  const run = Date.now();
  const results = {};

  // 1. approved by bob
  const a = `approval-${run}-1`;
  await client.startOrchestration(a, 'ApprovalWorkflow', { requester: 'alice', item: 'new laptop', timeout_ms: 60000 });
  const waiting = await untilAwaiting(client, a);
  console.log(`${a}: waiting for a decision on request ${waiting.request}`);
  await client.raiseEvent(a, 'approval', { approved: true, by: 'bob' });
  results.approved = (await client.waitForOrchestration(a, 30000)).output;
  console.log(`${a}:`, JSON.stringify(results.approved));

  // 2. nobody decides before the deadline: the timer wins the race
  const b = `approval-${run}-2`;
  await client.startOrchestration(b, 'ApprovalWorkflow', { requester: 'carol', item: 'standing desk', timeout_ms: 1500 });
  results.timedOut = (await client.waitForOrchestration(b, 30000)).output;
  console.log(`${b}:`, JSON.stringify(results.timedOut));
  // a late decision is ignored (the instance is over)
  await client.raiseEvent(b, 'approval', { approved: true, by: 'too late' });

  // 3. rejected by dave
  const c = `approval-${run}-3`;
  await client.startOrchestration(c, 'ApprovalWorkflow', { requester: 'erin', item: 'a pony', timeout_ms: 60000 });
  await untilAwaiting(client, c);
  await client.raiseEvent(c, 'approval', { approved: false, by: 'dave' });
  results.rejected = (await client.waitForOrchestration(c, 30000)).output;
  console.log(`${c}:`, JSON.stringify(results.rejected));

  const history = await client.getHistory(a);
  console.log(`${a} history: ${history.map((e) => e.eventType).join(', ')}`);
  await client.close();

  if (results.approved.decision !== 'approved' || results.approved.by !== 'bob' ||
      results.timedOut.decision !== 'timed_out' ||
      results.rejected.decision !== 'rejected' || results.rejected.by !== 'dave') {
    console.error('unexpected decisions');
    process.exit(1);
  }
  console.log('decisions as expected: approved, timed_out, rejected');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
