'use strict';
// test/signals.test.js -- handleSignals: a SIGTERM to a worker process runs
// shutdown(): the running task is released and the process exits by itself.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const path = require('path');
const { Client } = require('..');
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

// the worker process: one activity that runs until its signal aborts
const CHILD = `
const { Worker } = require(${JSON.stringify(path.join(__dirname, '..'))});
const w = new Worker({ connection: JSON.parse(process.env.CONN), taskQueue: process.env.QUEUE,
  shutdownTimeoutMs: 300, handleSignals: true, logger: { debug() {}, info() {}, warn() {}, error: console.error } });
w.registerActivity(process.env.ACTIVITY, async (ctx) => {
  console.log('started');
  await new Promise((resolve) => {
    const t = setTimeout(resolve, 30000);
    ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
  console.log('aborted ' + ctx.signal.reason.reason);
  return 'late';
});
process.on('exit', () => console.log('exit released=' + w.stats.released));
w.start().then(() => console.log('ready'), (e) => { console.error(e); process.exit(2); });
`;

test('SIGTERM with handleSignals: shutdown releases the running task and the process exits', async () => {
  const activity = H.uniq('Term');
  const queue = H.uniq('q');
  const child = spawn(process.execPath, ['-e', CHILD], {
    env: Object.assign({}, process.env, { CONN: JSON.stringify(H.conn().connection), QUEUE: queue, ACTIVITY: activity }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    await H.waitFor(() => out.includes('ready'), { what: 'the worker process to start' });
    const id = H.uniq('term');
    await client.startOrchestration(id, 'NodeCallOne', { activity, input: null });
    await H.waitFor(() => out.includes('started'), { what: 'the handler to start' });
    child.kill('SIGTERM');
    const t0 = Date.now();
    const r = await Promise.race([exited, new Promise((res) => setTimeout(() => res({ timeout: true }), 15000))]);
    assert.deepEqual(r, { code: 0, signal: null }, `exit: ${JSON.stringify(r)}; output: ${out}`);
    assert.ok(Date.now() - t0 < 10000);
    assert.match(out, /aborted shutdown/);
    assert.match(out, /exit released=1/);
    const q = await H.sql('SELECT pending::int, leased::int FROM duroxide.task_queues WHERE task_queue = $1', [queue]);
    assert.deepEqual(q, [{ pending: 1, leased: 0 }]);
    await client.cancelOrchestration(id);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
