'use strict';
// lib/errors.js -- the package's error type and the classification of
// errors coming from node-postgres: connection problems (retried by the
// Worker), a missing or too old extension, missing permissions.

// SQLSTATE classes and codes that mean "the connection is gone or not there
// yet": retrying on a new connection may succeed.
const CONNECTION_CODES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend, fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
]);
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH',
  'ENETUNREACH', 'EAI_AGAIN', 'ENOENT',
]);

/** An error raised by pg-duroxide; `code` is the SQLSTATE when the database raised it. */
class DuroxideError extends Error {
  constructor(message, { code, kind, hint, detail, cause } = {}) {
    super(message);
    this.name = 'DuroxideError';
    this.code = code;
    this.kind = kind || 'database';
    if (hint) this.hint = hint;
    if (detail) this.detail = detail;
    if (cause) this.cause = cause;
  }
}

// true when err means the connection dropped or could not be made
function isConnectionError(err) {
  if (!err) return false;
  if (err instanceof DuroxideError) return err.kind === 'connection';
  if (typeof err.code === 'string') {
    if (CONNECTION_CODES.has(err.code) || err.code.startsWith('08')) return true;
    if (CONNECTION_ERRNOS.has(err.code)) return true;
  }
  const m = String(err.message || '');
  return /Connection terminated|connection is closed|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect|Query read timeout|not queryable/i.test(m);
}

// the database name and role of a pg config, for messages
function describe(target) {
  const db = (target && target.database) || process.env.PGDATABASE || '(default database)';
  const user = (target && target.user) || process.env.PGUSER || '(default role)';
  return { db, user };
}

// turn an error from node-postgres into a DuroxideError with a message that
// says what to do; `what` names the operation, `target` is {database, user}
function wrapError(err, what, target) {
  if (err instanceof DuroxideError) return err;
  const { db, user } = describe(target);
  const base = String(err && err.message || err);
  const opts = { code: err && err.code, hint: err && err.hint, detail: err && err.detail, cause: err };
  if (isConnectionError(err)) {
    return new DuroxideError(`${what}: cannot reach the database (${base})`, { ...opts, kind: 'connection' });
  }
  const code = err && err.code;
  if (code === '3F000' || (code === '42883' && /duroxide\./.test(base)) ||
      (code === '42P01' && /duroxide\./.test(base)) || (code === '42704' && /duroxide_(user|admin)/.test(base))) {
    return new DuroxideError(
      `${what}: the duroxide extension is not installed in database "${db}" or is older than 0.2.0 (${base}). ` +
      'As a superuser, run CREATE EXTENSION duroxide (or ALTER EXTENSION duroxide UPDATE) in that database, ' +
      "and make sure the server has shared_preload_libraries = 'duroxide' and duroxide.database set to it",
      { ...opts, kind: 'missing_extension' });
  }
  if (code === '42501') {
    return new DuroxideError(
      `${what}: permission denied for role "${user}" (${base}). ` +
      `A superuser or duroxide_admin can run: GRANT duroxide_user TO "${user}"` +
      (err.hint ? ` (server hint: ${err.hint})` : ''),
      { ...opts, kind: 'permission' });
  }
  if (code === '3D000') {
    return new DuroxideError(`${what}: ${base} (check the database name of the connection)`, { ...opts, kind: 'connection' });
  }
  const e = new DuroxideError(`${what}: ${base}`, opts);
  return e;
}

// a short text for an error thrown by user code (what fail_task records)
function errorText(err) {
  if (err instanceof Error) return err.message || err.name || 'Error';
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch (e) {
    return String(err);
  }
}

module.exports = { DuroxideError, isConnectionError, wrapError, errorText };
