'use strict';
// test/reconnect.test.js -- the Worker survives its connections being
// terminated (pg_terminate_backend) mid-run: every task still completes.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Worker, Client } = require('..');
const H = require('./helpers');

let client;
const workers = [];

before(async () => {
  await H.setupOrchestrations();
  client = new Client(H.conn());
});

after(async () => {
  await Promise.all(workers.map((w) => w.shutdown({ timeoutMs: 1000 }).catch(() => {})));
  await H.sql('ALTER ROLE node_member CONNECTION LIMIT -1').catch(() => {});
  await client.close();
  await H.closeAdmin();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// terminate every backend of the worker (claiming and reporting); returns how many
async function terminateWorker(w) {
  const rows = await H.sql(
    'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [`pg-duroxide worker ${w.workerId}`.slice(0, 63)]);
  return rows[0].n;
}

test('pg_terminate_backend on the worker mid-run: every task still completes', async () => {
  const name = H.uniq('Resilient');
  const logger = H.quietLogger();
  const w = new Worker(Object.assign(H.conn(), {
    taskQueue: H.uniq('q'), concurrency: 4, leaseMs: 3000, pollWaitMs: 1000, logger, traceSink: () => {},
    reconnect: { initialDelayMs: 20, maxDelayMs: 500 },
  }));
  workers.push(w);
  let handled = 0;
  w.registerActivity(name, async (ctx, i) => {
    await sleep(30);
    handled++;
    return i * 10;
  });
  await w.start();
  const ids = [];
  const N = 30;
  for (let k = 0; k < N; k++) {
    const id = H.uniq('rc');
    ids.push(id);
    await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: k });
  }
  // terminate the worker's backends three times while it works
  let terminated = 0;
  for (let round = 0; round < 3; round++) {
    await H.waitFor(() => handled >= (round + 1) * 5, { what: `${(round + 1) * 5} handled tasks` });
    terminated += await terminateWorker(w);
  }
  assert.ok(terminated >= 3, `terminated ${terminated} backends`);
  for (let k = 0; k < N; k++) {
    const st = await client.waitForOrchestration(ids[k], 60000);
    assert.equal(st.status, 'Completed', `${ids[k]}: ${st.error}`);
    assert.equal(st.output, k * 10);
  }
  assert.ok(w.stats.reconnects >= 1, `reconnects: ${w.stats.reconnects}`);
  // and it is still claiming after the last termination
  const id = H.uniq('after');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: 99 });
  assert.equal((await client.waitForOrchestration(id, 30000)).output, 990);
  await w.shutdown();
});

test('the worker retries with backoff while connections are refused, then claims again', async () => {
  await H.makeRole('node_member', { duroxideUser: true });
  const name = H.uniq('Patient');
  const logger = H.quietLogger();
  const w = new Worker(Object.assign(H.conn({ user: 'node_member' }), {
    taskQueue: H.uniq('q'), concurrency: 2, leaseMs: 3000, pollWaitMs: 500, logger,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  }));
  workers.push(w);
  w.registerActivity(name, async (ctx, i) => i + 1);
  await w.start();
  // one task through the worker first: it is claiming on its own connection
  const first = H.uniq('first');
  await client.startOrchestration(first, 'NodeCallOne', { activity: name, input: 0 });
  assert.equal((await client.waitForOrchestration(first, 30000)).output, 1);
  const id = H.uniq('patient');
  // no new connection for the worker's role; drop the ones it has
  await H.sql('ALTER ROLE node_member CONNECTION LIMIT 0');
  try {
    assert.ok(await terminateWorker(w) >= 1);
    await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: 1 });
    // the claim loop fails to reconnect a few times meanwhile
    await H.waitFor(() => logger.lines.some((l) => /too many connections for role/.test(l)),
      { what: 'a refused reconnect in the log' });
    assert.equal((await client.getStatus(id)).status, 'Running');
  } finally {
    await H.sql('ALTER ROLE node_member CONNECTION LIMIT -1');
  }
  assert.equal((await client.waitForOrchestration(id, 30000)).output, 2);
  assert.ok(w.stats.reconnects >= 1, `reconnects: ${w.stats.reconnects}`);
  await w.shutdown();
});
