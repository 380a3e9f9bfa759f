'use strict';
// test/client.test.js -- the Client against a real server: the section 5
// functions under the duroxide-node names, and its errors.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, DuroxideError } = require('..');
const H = require('./helpers');

let client;

before(async () => {
  await H.setupOrchestrations();
  client = new Client(H.conn());
});

after(async () => {
  await client.close();
  await H.closeAdmin();
});

test('startOrchestration + waitForOrchestration round trip (in-database activity)', async () => {
  const id = H.uniq('rt');
  const returned = await client.startOrchestration(id, 'NodeCallOne', { activity: 'NodeEcho', input: { n: 1, s: 'é' } });
  assert.equal(returned, id);
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.instanceId, id);
  assert.equal(st.status, 'Completed');
  assert.deepEqual(st.output, { echo: { n: 1, s: 'é' } });
  assert.equal(st.error, null);
  assert.equal(st.orchestrationName, 'NodeCallOne');
  assert.equal(typeof st.orchestrationVersion, 'string');
  assert.equal(st.executionId, 1);
  assert.ok(st.createdAt instanceof Date && st.updatedAt instanceof Date);

  // starting the same id again is idempotent
  assert.equal(await client.startOrchestration(id, 'NodeCallOne', { activity: 'NodeEcho', input: 2 }), id);
  const again = await client.getOrchestrationStatus(id);
  assert.deepEqual(again.output, { echo: { n: 1, s: 'é' } });

  const hist = await client.getHistory(id);
  assert.ok(hist.length >= 3, 'history has events');
  assert.ok(hist.some((e) => e.eventType === 'ActivityCompleted'));
  assert.equal(typeof hist[0].eventId, 'number');
});

test('startOrchestrationVersioned and input types (null, array, string)', async () => {
  const id1 = H.uniq('ver');
  await client.startOrchestrationVersioned(id1, 'NodeCallOne', { activity: 'NodeEcho', input: [1, 'two', null] }, '1.0.0');
  assert.deepEqual((await client.waitForOrchestration(id1)).output, { echo: [1, 'two', null] });
  const id2 = H.uniq('str');
  await client.startOrchestration(id2, 'NodeCallOne', { activity: 'NodeEcho', input: "it's \"quoted\"" });
  assert.deepEqual((await client.waitForOrchestration(id2)).output, { echo: "it's \"quoted\"" });
});

test('raiseEvent, customStatus, getStatus', async () => {
  const id = H.uniq('ev');
  await client.startOrchestration(id, 'NodeWaitGo', { x: 1 });
  await H.waitFor(async () => {
    const st = await client.getStatus(id);
    return st.customStatus && st.customStatus.state === 'waiting';
  }, { what: 'the custom status' });
  assert.equal((await client.getOrchestrationStatus(id)).status, 'Running');
  await client.raiseEvent(id, 'go', { approved: true });
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.status, 'Completed');
  assert.deepEqual(st.output, { got: { approved: true }, input: { x: 1 } });
});

test('cancelOrchestration and deleteInstance', async () => {
  const id = H.uniq('cancel');
  await client.startOrchestration(id, 'NodeWaitGo', null);
  await client.cancelOrchestration(id, 'no longer needed');
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.status, 'Cancelled');
  await client.deleteInstance(id);
  assert.equal((await client.getOrchestrationStatus(id)).status, 'NotFound');

  // a running instance needs force
  const id2 = H.uniq('del');
  await client.startOrchestration(id2, 'NodeWaitGo', null);
  await assert.rejects(client.deleteInstance(id2), (err) => err instanceof DuroxideError && /deleteInstance/.test(err.message));
  await client.deleteInstance(id2, { force: true });
  assert.equal((await client.getStatus(id2)).status, 'NotFound');
});

test('getSystemMetrics and getQueueDepths', async () => {
  const m = await client.getSystemMetrics();
  for (const k of ['totalInstances', 'runningInstances', 'completedInstances', 'failedInstances', 'cancelledInstances']) {
    assert.equal(typeof m[k], 'number', k);
  }
  assert.ok(m.completedInstances >= 1);
  const q = await client.getQueueDepths();
  assert.deepEqual(Object.keys(q).sort(), ['orchestratorQueue', 'timerQueue', 'workerQueue']);
  for (const v of Object.values(q)) assert.equal(typeof v, 'number');
});

test('errors: unknown orchestration, wait timeout, NotFound', async () => {
  await assert.rejects(client.startOrchestration(H.uniq('x'), 'NoSuchOrchestration', {}),
    (err) => err instanceof DuroxideError && /startOrchestration/.test(err.message) && /NoSuchOrchestration/.test(err.message) &&
      typeof err.code === 'string');
  const id = H.uniq('wait');
  await client.startOrchestration(id, 'NodeWaitGo', null);
  const t0 = Date.now();
  await assert.rejects(client.waitForOrchestration(id, 200), (err) => err instanceof DuroxideError && /timed out/.test(err.message));
  assert.ok(Date.now() - t0 < 5000);
  await client.cancelOrchestration(id);
  assert.equal((await client.getOrchestrationStatus(H.uniq('none'))).status, 'NotFound');
});

test('a string with SQL in it is a parameter, not SQL', async () => {
  const id = H.uniq("x'); DROP TABLE duroxide.instances; --");
  await client.startOrchestration(id, 'NodeCallOne', { activity: 'NodeEcho', input: "'); SELECT 1; --" });
  const st = await client.waitForOrchestration(id);
  assert.equal(st.instanceId, id);
  assert.deepEqual(st.output, { echo: "'); SELECT 1; --" });
});

test('missing extension: a clear error', async () => {
  await H.makeEmptyDatabase('node_noext');
  const c = new Client(H.conn({ database: 'node_noext' }));
  try {
    await assert.rejects(c.startOrchestration('x', 'NodeCallOne', {}), (err) => {
      assert.ok(err instanceof DuroxideError);
      assert.equal(err.kind, 'missing_extension');
      assert.match(err.message, /not installed in database "node_noext"/);
      assert.match(err.message, /CREATE EXTENSION duroxide/);
      return true;
    });
  } finally {
    await c.close();
  }
});

test('missing permission: a clear error naming the GRANT', async () => {
  await H.makeRole('node_noperm', { duroxideUser: false });
  const c = new Client(H.conn({ user: 'node_noperm' }));
  try {
    await assert.rejects(c.startOrchestration(H.uniq('p'), 'NodeCallOne', {}), (err) => {
      assert.ok(err instanceof DuroxideError);
      assert.equal(err.kind, 'permission');
      assert.equal(err.code, '42501');
      assert.match(err.message, /GRANT duroxide_user TO "node_noperm"/);
      return true;
    });
  } finally {
    await c.close();
  }
});

test('a connection that cannot be made is a connection error', async () => {
  const c = new Client({ connection: { host: H.HOST, port: 1, database: H.DB, user: H.USER, connectionTimeoutMillis: 2000 } });
  try {
    await assert.rejects(c.getQueueDepths(), (err) => err instanceof DuroxideError && err.kind === 'connection');
  } finally {
    await c.close();
  }
});
