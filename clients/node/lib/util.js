'use strict';
// lib/util.js -- small helpers shared by the Client and the Worker: the
// pg connection options, JSON parameters, exponential backoff.

const os = require('os');
const crypto = require('crypto');

// the pg connection options from the package's options: connectionString,
// or a `connection` object of pg.ClientConfig, plus application_name
function pgConfig(opts, applicationName) {
  const cfg = Object.assign({}, opts.connection || {});
  if (opts.connectionString) cfg.connectionString = opts.connectionString;
  if (!cfg.application_name) cfg.application_name = applicationName;
  if (cfg.keepAlive === undefined) cfg.keepAlive = true;
  return cfg;
}

// the database and role a config names, for error messages
function targetOf(cfg) {
  let database = cfg.database;
  let user = cfg.user;
  if (cfg.connectionString) {
    try {
      const parse = require('pg-connection-string').parse;
      const p = parse(cfg.connectionString);
      database = database || p.database;
      user = user || p.user;
    } catch (e) {
      /* leave them unknown */
    }
  }
  return { database: database || process.env.PGDATABASE, user: user || process.env.PGUSER || safeUser() };
}

function safeUser() {
  try {
    return os.userInfo().username;
  } catch (e) {
    return undefined;
  }
}

// a jsonb parameter: SQL NULL for undefined, else the JSON text
function jsonParam(value) {
  if (value === undefined) return null;
  return JSON.stringify(value);
}

// a bigint column (a string from pg) as a number when it is exact
function toNumber(v) {
  if (v === null || v === undefined) return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

// a default worker id: host, pid and a random suffix
function defaultWorkerId() {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
}

// exponential backoff with jitter: next() returns the delay to wait in ms
class Backoff {
  constructor({ initialDelayMs = 100, maxDelayMs = 5000, factor = 2 } = {}) {
    this.initial = initialDelayMs;
    this.max = maxDelayMs;
    this.factor = factor;
    this.attempt = 0;
  }
  next() {
    const base = Math.min(this.max, this.initial * Math.pow(this.factor, this.attempt));
    this.attempt++;
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  }
  reset() {
    this.attempt = 0;
  }
}

// a promise resolved after ms, or at once when signal aborts
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      if (signal) signal.removeEventListener('abort', done);
      resolve();
    }
    if (signal) signal.addEventListener('abort', done, { once: true });
  });
}

module.exports = { pgConfig, targetOf, jsonParam, toNumber, defaultWorkerId, Backoff, sleep };
