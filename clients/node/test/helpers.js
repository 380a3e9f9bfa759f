'use strict';
// test/helpers.js -- what the tests share: the connection to the test
// server that test/with-server.sh started (DUROXIDE_TEST_* variables), a
// superuser pool for setting up SQL orchestrations, unique names, and a
// bounded poll for conditions.

const pg = require('pg');
const crypto = require('crypto');

const HOST = process.env.DUROXIDE_TEST_HOST;
const PORT = Number(process.env.DUROXIDE_TEST_PORT || 5432);
const DB = process.env.DUROXIDE_TEST_DB || 'contrib_regression';
const USER = process.env.DUROXIDE_TEST_USER || 'postgres';

if (!HOST) {
  throw new Error('DUROXIDE_TEST_HOST is not set: run the tests with `bash test/with-server.sh node --test test/`');
}

// connection options for Client / Worker
function conn(extra = {}) {
  return { connection: Object.assign({ host: HOST, port: PORT, database: DB, user: USER }, extra) };
}

let adminPool = null;
// the superuser pool of the test database (closed by closeAdmin)
function admin() {
  if (!adminPool) {
    adminPool = new pg.Pool({ host: HOST, port: PORT, database: DB, user: USER, max: 4, application_name: 'node-test-admin' });
    adminPool.on('error', () => {});
  }
  return adminPool;
}

async function sql(text, params) {
  return (await admin().query(text, params)).rows;
}

async function closeAdmin() {
  if (adminPool) {
    const p = adminPool;
    adminPool = null;
    await p.end();
  }
}

// a name no other test uses
function uniq(prefix) {
  return `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
}

// poll fn() every intervalMs until it returns a truthy value; throws after timeoutMs
async function waitFor(fn, { timeoutMs = 20000, intervalMs = 20, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// a promise with its resolve function (for "the handler has started")
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

// the SQL orchestrations the tests use (idempotent)
async function setupOrchestrations() {
  await sql(`
    CREATE SCHEMA IF NOT EXISTS node_test;
    GRANT USAGE ON SCHEMA node_test TO PUBLIC;
    -- call the activity input.activity with input.input; return its result
    CREATE OR REPLACE FUNCTION node_test.call_one(ctx duroxide.context, input jsonb) RETURNS jsonb
    LANGUAGE plpgsql AS $$
    BEGIN
        RETURN duroxide.call_activity(ctx, input->>'activity', input->'input');
    END $$;
    -- the same, catching the activity's failure (DX001)
    CREATE OR REPLACE FUNCTION node_test.catch_one(ctx duroxide.context, input jsonb) RETURNS jsonb
    LANGUAGE plpgsql AS $$
    BEGIN
        RETURN jsonb_build_object('ok', duroxide.call_activity(ctx, input->>'activity', input->'input'));
    EXCEPTION WHEN SQLSTATE 'DX001' THEN
        RETURN jsonb_build_object('caught', SQLERRM, 'sqlstate', SQLSTATE);
    END $$;
    -- input.n activities input.activity with inputs 1..n at once, then await_all
    CREATE OR REPLACE FUNCTION node_test.fan(ctx duroxide.context, input jsonb) RETURNS jsonb
    LANGUAGE plpgsql AS $$
    DECLARE
        tasks duroxide.task[] := '{}';
    BEGIN
        FOR i IN 1..(input->>'n')::int LOOP
            tasks := tasks || duroxide.schedule_activity(ctx, input->>'activity', to_jsonb(i));
        END LOOP;
        RETURN duroxide.await_all(tasks);
    END $$;
    -- the same with await_all_settled: [{"ok": v} | {"error": msg}, ...]
    CREATE OR REPLACE FUNCTION node_test.fan_settled(ctx duroxide.context, input jsonb) RETURNS jsonb
    LANGUAGE plpgsql AS $$
    DECLARE
        tasks duroxide.task[] := '{}';
    BEGIN
        FOR i IN 1..(input->>'n')::int LOOP
            tasks := tasks || duroxide.schedule_activity(ctx, input->>'activity', to_jsonb(i));
        END LOOP;
        RETURN duroxide.await_all_settled(tasks);
    END $$;
    -- wait for event "go", then return its data (for raiseEvent)
    CREATE OR REPLACE FUNCTION node_test.wait_go(ctx duroxide.context, input jsonb) RETURNS jsonb
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM duroxide.set_custom_status(ctx, '{"state": "waiting"}');
        RETURN jsonb_build_object('got', duroxide.wait_for_event(ctx, 'go'), 'input', input);
    END $$;
    -- an in-database activity: {"echo": input}
    CREATE OR REPLACE FUNCTION node_test.echo(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
    LANGUAGE sql AS $$ SELECT jsonb_build_object('echo', input) $$;
  `);
  await sql(`SELECT duroxide.register_orchestration('NodeCallOne', 'node_test.call_one')`);
  await sql(`SELECT duroxide.register_orchestration('NodeCatchOne', 'node_test.catch_one')`);
  await sql(`SELECT duroxide.register_orchestration('NodeFan', 'node_test.fan')`);
  await sql(`SELECT duroxide.register_orchestration('NodeWaitGo', 'node_test.wait_go')`);
  await sql(`SELECT duroxide.register_orchestration('NodeFanSettled', 'node_test.fan_settled')`);
  await sql(`SELECT duroxide.register_activity('NodeEcho', 'node_test.echo')`);
}

// a LOGIN role for permission tests, with or without duroxide_user
async function makeRole(name, { duroxideUser }) {
  await sql(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${name}') THEN
          CREATE ROLE ${name} LOGIN;
      END IF;
  END $$`);
  if (duroxideUser) await sql(`GRANT duroxide_user TO ${name}`);
  else await sql(`REVOKE duroxide_user FROM ${name}`);
  await sql(`GRANT USAGE ON SCHEMA node_test TO ${name}`);
}

// a database without the extension
async function makeEmptyDatabase(name) {
  const rows = await sql('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rows.length === 0) await sql(`CREATE DATABASE ${name}`);
}

// a Worker logger that keeps its lines (and prints nothing)
function quietLogger() {
  const lines = [];
  const add = (level) => (m) => lines.push(`${level}: ${m}`);
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

module.exports = {
  HOST, PORT, DB, USER, conn, admin, sql, closeAdmin, uniq, waitFor, deferred,
  setupOrchestrations, makeRole, makeEmptyDatabase, quietLogger,
};
