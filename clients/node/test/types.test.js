'use strict';
// test/types.test.js -- index.d.ts declares what index.js exports: every
// exported name, and the public methods and properties of the classes.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const pkg = require('..');
const { Worker, Client, ActivityContext } = pkg;

const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');

// the member names declared in `export class NAME ... { ... }`
function declared(cls) {
  const m = dts.match(new RegExp(`export class ${cls}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`));
  assert.ok(m, `index.d.ts declares class ${cls}`);
  const names = new Set();
  for (const line of m[1].split('\n')) {
    const n = line.match(/^\s+(?:readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)\??\s*[(:]/);
    if (n && n[1] !== 'constructor') names.add(n[1]);
  }
  return names;
}

// the public methods and getters of a class
function methods(cls) {
  return Object.getOwnPropertyNames(cls.prototype).filter((n) => n !== 'constructor' && !n.startsWith('_'));
}

test('every export of index.js is declared, and nothing else', () => {
  const exported = new Set();
  for (const m of dts.matchAll(/^export (?:declare )?(?:class|function|const) ([A-Za-z]+)/gm)) exported.add(m[1]);
  assert.deepEqual([...exported].sort(), Object.keys(pkg).sort());
});

test('Client: declared methods = implemented methods', () => {
  assert.deepEqual([...declared('Client')].sort(), methods(Client).sort());
});

test('Worker: declared members exist', () => {
  const w = new Worker({});
  const d = declared('Worker');
  for (const n of d) assert.ok(n in w, `Worker.${n}`);
  for (const n of methods(Worker)) assert.ok(d.has(n), `Worker.${n} is declared`);
});

test('ActivityContext: declared members = the section 7.2 ctx', () => {
  const d = declared('ActivityContext');
  for (const n of ['instanceId', 'executionId', 'orchestrationName', 'orchestrationVersion', 'activityName',
    'activityId', 'attempt', 'workerId', 'signal', 'traceInfo', 'traceWarn', 'traceError', 'traceDebug', 'heartbeat']) {
    assert.ok(d.has(n), `ctx.${n} is declared`);
  }
  for (const n of methods(ActivityContext)) assert.ok(d.has(n), `ctx.${n} is declared`);
  // the fields the constructor sets
  const fake = { row: { activity_id: '1', task_id: '2' }, controller: new AbortController(), leaseDeadline: 0 };
  const ctx = new ActivityContext({ workerId: 'w', taskQueue: 'q' }, fake);
  for (const n of Object.keys(ctx)) assert.ok(d.has(n), `ctx.${n} is declared`);
});
