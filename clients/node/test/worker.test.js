'use strict';
// test/worker.test.js -- the Worker against a real server: external Hello,
// failures as DX001, the concurrency limit, lease extension, cancellation
// through ctx.signal, graceful shutdown, and its start errors.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Worker, Client, DuroxideError, TaskAbortedError } = require('..');
const H = require('./helpers');

let client;
const workers = [];

// a worker on a queue of its own, shut down after the test file
function makeWorker(opts = {}) {
  const w = new Worker(Object.assign(H.conn(), {
    taskQueue: H.uniq('q'), concurrency: 4, leaseMs: 5000, pollWaitMs: 2000,
    logger: H.quietLogger(), traceSink: () => {},
  }, opts));
  workers.push(w);
  return w;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  await H.setupOrchestrations();
  client = new Client(H.conn());
});

after(async () => {
  await Promise.all(workers.map((w) => w.shutdown({ timeoutMs: 1000 }).catch(() => {})));
  await client.close();
  await H.closeAdmin();
});

test('external Hello: the handler runs with the section 7.2 ctx and its result completes the activity', async () => {
  const name = H.uniq('Hello');
  const traces = [];
  const w = makeWorker({ traceSink: (level, message, ctx) => traces.push({ level, message, instanceId: ctx.instanceId }) });
  let seen;
  w.registerActivity(name, async (ctx, input) => {
    seen = {
      instanceId: ctx.instanceId, executionId: ctx.executionId, orchestrationName: ctx.orchestrationName,
      orchestrationVersion: ctx.orchestrationVersion, activityName: ctx.activityName, activityId: ctx.activityId,
      attempt: ctx.attempt, workerId: ctx.workerId, aborted: ctx.signal.aborted, taskQueue: ctx.taskQueue,
    };
    ctx.traceInfo('saying hello');
    ctx.traceDebug('not shown at the default level');
    return `Hello, ${input.name}!`;
  });
  await w.start();
  const id = H.uniq('hello');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: { name: 'World' } });
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.status, 'Completed', st.error);
  assert.equal(st.output, 'Hello, World!');
  assert.equal(seen.instanceId, id);
  assert.equal(seen.executionId, 1);
  assert.equal(seen.orchestrationName, 'NodeCallOne');
  assert.equal(typeof seen.orchestrationVersion, 'string');
  assert.equal(seen.activityName, name);
  assert.equal(typeof seen.activityId, 'number');
  assert.equal(seen.attempt, 1);
  assert.equal(seen.workerId, w.workerId);
  assert.equal(seen.taskQueue, w.taskQueue);
  assert.equal(seen.aborted, false);
  assert.deepEqual(traces, [{ level: 'info', message: 'saying hello', instanceId: id }]);
  // start() registered the activity as external on the worker's queue
  const reg = await H.sql(
    "SELECT count(*)::int AS n FROM duroxide.task_queues WHERE task_queue = $1", [w.taskQueue]);
  assert.ok(reg[0].n <= 1);
  await w.shutdown();
  assert.equal(w.stats.completed, 1);
});

test('a thrown error fails the attempt: DX001 with its message in the orchestration', async () => {
  const name = H.uniq('Charge');
  const w = makeWorker();
  w.registerActivity(name, async () => { throw new Error('card declined'); });
  await w.start();
  const id = H.uniq('dx001');
  await client.startOrchestration(id, 'NodeCatchOne', { activity: name, input: { amount: 5 } });
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.status, 'Completed', st.error);
  assert.deepEqual(st.output, { caught: 'card declined', sqlstate: 'DX001' });
  // not caught: the instance fails with the message
  const id2 = H.uniq('dx001u');
  await client.startOrchestration(id2, 'NodeCallOne', { activity: name, input: null });
  const st2 = await client.waitForOrchestration(id2, 20000);
  assert.equal(st2.status, 'Failed');
  assert.match(st2.error, /card declined/);
  await w.shutdown();
  assert.equal(w.stats.failed, 2);
});

test('a result that is not JSON fails the attempt with a message saying so', async () => {
  const name = H.uniq('BigInt');
  const w = makeWorker();
  w.registerActivity(name, async () => ({ n: 10n }));
  await w.start();
  const id = H.uniq('nojson');
  await client.startOrchestration(id, 'NodeCatchOne', { activity: name, input: null });
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.output.sqlstate, 'DX001');
  assert.match(st.output.caught, /returned a value that is not JSON/);
  await w.shutdown();
});

test('the concurrency limit holds: never more handlers at once than concurrency', async () => {
  const name = H.uniq('Slowish');
  const w = makeWorker({ concurrency: 3 });
  let active = 0;
  let maxActive = 0;
  w.registerActivity(name, async (ctx, i) => {
    active++;
    maxActive = Math.max(maxActive, active);
    await sleep(150);
    active--;
    return i;
  });
  await w.start();
  const id = H.uniq('fan');
  await client.startOrchestration(id, 'NodeFan', { activity: name, n: 12 });
  const st = await client.waitForOrchestration(id, 30000);
  assert.equal(st.status, 'Completed', st.error);
  assert.deepEqual(st.output, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(maxActive, 3, `at most 3 at once, and the worker used all 3 (saw ${maxActive})`);
  await w.shutdown();
});

test('outcomes reported together land on their own tasks: a fan-out with failures and one oversized result', async () => {
  const name = H.uniq('Mixed');
  const w = makeWorker({ concurrency: 16 });
  const big = 'x'.repeat(1100 * 1024); // more than duroxide.max_payload_size (1 MB)
  w.registerActivity(name, async (ctx, i) => {
    if (i === 7) return big;
    if (i % 3 === 0) throw new Error(`no ${i}`);
    return i * 2;
  });
  await w.start();
  const id = H.uniq('mixed');
  await client.startOrchestration(id, 'NodeFanSettled', { activity: name, n: 40 });
  const st = await client.waitForOrchestration(id, 30000);
  assert.equal(st.status, 'Completed', st.error);
  assert.equal(st.output.length, 40);
  for (let i = 1; i <= 40; i++) {
    const r = st.output[i - 1];
    if (i === 7) {
      assert.match(r.error, /the database refused the result/, JSON.stringify(r).slice(0, 200));
    } else if (i % 3 === 0) {
      assert.deepEqual(r, { error: `no ${i}` });
    } else {
      assert.deepEqual(r, { ok: i * 2 });
    }
  }
  await w.shutdown();
  assert.ok(w.stats.reportCalls < 40, `outcomes went together (${w.stats.reportCalls} statements for 40)`);
});

test('leases are extended while a handler runs longer than leaseMs', async () => {
  const name = H.uniq('Long');
  const w = makeWorker({ leaseMs: 600, concurrency: 2 });
  let calls = 0;
  let aborted = false;
  w.registerActivity(name, async (ctx) => {
    calls++;
    await sleep(2200); // more than three leases
    aborted = ctx.signal.aborted;
    return { calls };
  });
  await w.start();
  const id = H.uniq('long');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: null });
  const st = await client.waitForOrchestration(id, 30000);
  assert.equal(st.status, 'Completed', st.error);
  assert.equal(calls, 1, 'the task was not delivered again');
  assert.equal(aborted, false);
  assert.deepEqual(st.output, { calls: 1 });
  await w.shutdown();
  assert.equal(w.stats.completed, 1);
  assert.equal(w.stats.lost, 0);
});

test('ctx.heartbeat() extends the lease on demand', async () => {
  const name = H.uniq('Beat');
  const w = makeWorker({ leaseMs: 60000 });
  w.registerActivity(name, async (ctx) => {
    const before = ctx.leaseExpiresAt.getTime();
    await sleep(20);
    const ok = await ctx.heartbeat();
    return { ok, moved: ctx.leaseExpiresAt.getTime() > before };
  });
  await w.start();
  const id = H.uniq('beat');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: null });
  const st = await client.waitForOrchestration(id, 20000);
  assert.deepEqual(st.output, { ok: true, moved: true });
  await w.shutdown();
});

test('ctx.signal is aborted when the orchestration is cancelled mid-task', async () => {
  const name = H.uniq('Cancellable');
  const w = makeWorker({ leaseMs: 1500 });
  const started = H.deferred();
  const ended = H.deferred();
  w.registerActivity(name, async (ctx) => {
    started.resolve();
    const t0 = Date.now();
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 20000);
      ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
    ended.resolve({ aborted: ctx.signal.aborted, reason: ctx.signal.reason, ms: Date.now() - t0 });
    return 'finished anyway';
  });
  await w.start();
  const id = H.uniq('cancel');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: null });
  await started.promise;
  await client.cancelOrchestration(id, 'user gave up');
  const r = await ended.promise;
  assert.equal(r.aborted, true);
  assert.ok(r.reason instanceof TaskAbortedError);
  assert.equal(r.reason.reason, 'lost');
  assert.ok(r.ms < 15000);
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.status, 'Cancelled');
  await w.shutdown();
  assert.equal(w.stats.completed, 0);
});

test('shutdown waits for running handlers within its bound', async () => {
  const name = H.uniq('Finishing');
  const w = makeWorker();
  const started = H.deferred();
  w.registerActivity(name, async () => {
    started.resolve();
    await sleep(300);
    return 'done';
  });
  await w.start();
  const id = H.uniq('finish');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: null });
  await started.promise;
  await w.shutdown({ timeoutMs: 10000 });
  assert.equal(w.stats.completed, 1);
  assert.equal(w.stats.released, 0);
  assert.equal((await client.waitForOrchestration(id, 20000)).output, 'done');
});

test('graceful shutdown releases an unfinished task: another worker then runs it', async () => {
  const name = H.uniq('Stuck');
  const queue = H.uniq('q');
  const a = makeWorker({ taskQueue: queue, concurrency: 1 });
  const started = H.deferred();
  let abortReason = null;
  a.registerActivity(name, async (ctx) => {
    started.resolve();
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 20000);
      ctx.signal.addEventListener('abort', () => { abortReason = ctx.signal.reason; clearTimeout(t); resolve(); }, { once: true });
    });
    return 'from A';
  });
  await a.start();
  const id = H.uniq('release');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: null });
  await started.promise;
  const t0 = Date.now();
  await a.shutdown({ timeoutMs: 300 });
  assert.ok(Date.now() - t0 < 5000, 'shutdown is bounded');
  assert.equal(a.stats.released, 1);
  assert.ok(abortReason instanceof TaskAbortedError);
  assert.equal(abortReason.reason, 'shutdown');
  // the task is pending again at once (no lease to wait for)
  const q = await H.sql('SELECT pending::int, leased::int FROM duroxide.task_queues WHERE task_queue = $1', [queue]);
  assert.deepEqual(q, [{ pending: 1, leased: 0 }]);
  const b = makeWorker({ taskQueue: queue });
  b.registerActivity(name, async (ctx) => ({ by: 'B', attempt: ctx.attempt }));
  await b.start();
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.status, 'Completed', st.error);
  assert.deepEqual(st.output, { by: 'B', attempt: 1 });
  await b.shutdown();
});

test('shutdown ends a waiting long poll at once', async () => {
  const w = makeWorker({ pollWaitMs: 30000 });
  w.registerActivity(H.uniq('Idle'), async () => null);
  await w.start();
  await sleep(200); // the claim is waiting in the database now
  const t0 = Date.now();
  await w.shutdown();
  assert.ok(Date.now() - t0 < 3000, `shutdown took ${Date.now() - t0} ms`);
  // the connections are closed (their backends exit right after)
  await H.waitFor(async () => {
    const rows = await H.sql('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [`pg-duroxide worker ${w.workerId}`.slice(0, 63)]);
    return rows[0].n === 0;
  }, { timeoutMs: 5000, what: 'no connection of the worker left' });
});

test('a task of the queue without a handler in this worker fails with a message naming it', async () => {
  const known = H.uniq('Known');
  const unknown = H.uniq('Unknown');
  const w = makeWorker();
  w.registerActivity(known, async () => 1);
  await w.start();
  await H.sql('SELECT duroxide.register_external_activity($1, $2)', [unknown, w.taskQueue]);
  const id = H.uniq('nohandler');
  await client.startOrchestration(id, 'NodeCatchOne', { activity: unknown, input: null });
  const st = await client.waitForOrchestration(id, 20000);
  assert.equal(st.output.sqlstate, 'DX001');
  assert.match(st.output.caught, new RegExp(`activity "${unknown}" has no handler`));
  await w.shutdown();
});

test('start(): missing extension is a clear error', async () => {
  await H.makeEmptyDatabase('node_noext');
  const w = new Worker(Object.assign(H.conn({ database: 'node_noext' }), { logger: H.quietLogger() }));
  w.registerActivity('X', async () => 1);
  await assert.rejects(w.start(), (err) => {
    assert.ok(err instanceof DuroxideError);
    assert.equal(err.kind, 'missing_extension');
    assert.match(err.message, /not installed in database "node_noext"/);
    assert.match(err.message, /CREATE EXTENSION duroxide/);
    return true;
  });
});

test('start(): a role without duroxide_user gets a clear permission error', async () => {
  await H.makeRole('node_noperm', { duroxideUser: false });
  const w = new Worker(Object.assign(H.conn({ user: 'node_noperm' }), { logger: H.quietLogger() }));
  w.registerActivity(H.uniq('X'), async () => 1);
  await assert.rejects(w.start(), (err) => {
    assert.ok(err instanceof DuroxideError);
    assert.equal(err.kind, 'permission');
    assert.equal(err.code, '42501');
    assert.match(err.message, /GRANT duroxide_user TO "node_noperm"/);
    return true;
  });
});

test('start(): a duroxide_user role can run a worker of its own activities', async () => {
  await H.makeRole('node_member', { duroxideUser: true });
  const name = H.uniq('Member');
  const w = makeWorker(H.conn({ user: 'node_member' }));
  w.registerActivity(name, async (ctx, input) => ({ by: 'member', input }));
  await w.start();
  const id = H.uniq('member');
  await client.startOrchestration(id, 'NodeCallOne', { activity: name, input: 7 });
  const st = await client.waitForOrchestration(id, 20000);
  assert.deepEqual(st.output, { by: 'member', input: 7 });
  await w.shutdown();
});

test('start() without activities, and bad options, are errors', async () => {
  const w = new Worker(H.conn());
  await assert.rejects(w.start(), /no activity registered/);
  assert.throws(() => new Worker({ concurrency: 0 }), RangeError);
  assert.throws(() => new Worker({ leaseMs: 10 }), RangeError);
  assert.throws(() => w.registerActivity('x', 'not a function'), TypeError);
});
