'use strict';
// lib/worker.js -- Worker: runs external activities (API.md section 7) as
// JavaScript functions.  One dedicated connection long-polls
// duroxide.claim_tasks; a separate pool reports outcomes (complete_task,
// fail_task), extends leases (heartbeat_task) and gives tasks back
// (release_task), so a waiting claim never delays a completion.  Both
// reconnect with exponential backoff when the connection drops.

const pg = require('pg');
const { DuroxideError, isConnectionError, wrapError, errorText } = require('./errors');
const { pgConfig, targetOf, toNumber, defaultWorkerId, Backoff, sleep } = require('./util');

const CLAIM_SQL =
  'SELECT task_id, lease_token, activity_name, input, instance_id, execution_id, orchestration_name, ' +
  'orchestration_version, activity_id, attempt, lease_expires_at ' +
  'FROM duroxide.claim_tasks($1, $2, $3, $4, $5)';
const COMPLETE_SQL = 'SELECT duroxide.complete_task($1, $2, $3::jsonb) AS ok';
const FAIL_SQL = 'SELECT duroxide.fail_task($1, $2, $3) AS ok';
const HEARTBEAT_SQL = 'SELECT duroxide.heartbeat_task($1, $2, $3) AS ok';
const RELEASE_SQL = 'SELECT duroxide.release_task($1, $2) AS ok';
const REGISTER_SQL = 'SELECT duroxide.register_external_activity($1, $2)';
// several outcomes in one statement (one transaction, one commit): each row
// is one complete_task or fail_task call, in the order given
const REPORT_BATCH_SQL =
  'SELECT CASE WHEN t.ok THEN duroxide.complete_task(t.id, t.token, t.result) ' +
  'ELSE duroxide.fail_task(t.id, t.token, t.error) END AS ok ' +
  'FROM unnest($1::bigint[], $2::uuid[], $3::boolean[], $4::jsonb[], $5::text[]) WITH ORDINALITY ' +
  'AS t(id, token, ok, result, error, n) ORDER BY t.n';

// Outcomes to report are sent at once when a connection is free; those that
// arrive while maxInFlight batches are under way wait and go together in the
// next one, so a busy worker commits many outcomes per transaction and an
// idle one adds no delay.  A batch that fails with anything but a connection
// error is sent again one outcome at a time, so that each gets its own error.
class Reporter {
  constructor(pool, maxInFlight, maxBatch, stats) {
    this.pool = pool;
    this.stats = stats;
    this.maxInFlight = maxInFlight;
    this.maxBatch = maxBatch;
    this.queue = [];
    this.inFlight = 0;
  }
  // resolves with complete_task's / fail_task's boolean, rejects with the error
  submit(id, token, outcome) {
    return new Promise((resolve, reject) => {
      this.queue.push({ id, token, outcome, resolve, reject });
      this._kick();
    });
  }
  _kick() {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.stats.reportCalls++;
      this._send(batch).finally(() => {
        this.inFlight--;
        this._kick();
      });
    }
  }
  async _send(batch) {
    if (batch.length === 1) {
      const e = batch[0];
      try {
        const r = e.outcome.ok
          ? await this.pool.query(COMPLETE_SQL, [e.id, e.token, e.outcome.json])
          : await this.pool.query(FAIL_SQL, [e.id, e.token, e.outcome.error]);
        e.resolve(r.rows[0].ok);
      } catch (err) {
        e.reject(err);
      }
      return;
    }
    try {
      const r = await this.pool.query(REPORT_BATCH_SQL, [
        batch.map((e) => e.id), batch.map((e) => e.token), batch.map((e) => e.outcome.ok),
        batch.map((e) => (e.outcome.ok ? e.outcome.json : null)), batch.map((e) => (e.outcome.ok ? null : e.outcome.error)),
      ]);
      batch.forEach((e, i) => e.resolve(r.rows[i].ok));
    } catch (err) {
      if (isConnectionError(err)) {
        for (const e of batch) e.reject(err);
        return;
      }
      await Promise.all(batch.map((e) => this._send([e])));
    }
  }
}
// what start() checks before anything else, for clear errors
const PRECHECK_SQL =
  "SELECT current_user AS role, current_database() AS db, " +
  "(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'duroxide') AS version, " +
  "pg_catalog.to_regprocedure('duroxide.claim_tasks(text,text,integer,bigint,bigint)') IS NOT NULL AS has_protocol, " +
  "EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'duroxide_user') " +
  "  AND pg_catalog.pg_has_role(current_user, 'duroxide_user', 'MEMBER') AS is_user";

// longest error text sent to fail_task (duroxide.max_payload_size is larger)
const MAX_ERROR_TEXT = 64 * 1024;

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };

// the default trace sink: console, one line per call with the task's prefix
function consoleSink(level, message, info) {
  const line = `[${info.instanceId} ${info.activityName}#${info.activityId} attempt ${info.attempt}] ${message}`;
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

// the default logger for the worker's own messages (reconnects, lost leases)
function consoleLogger(prefix) {
  return {
    debug: (m) => console.debug(`${prefix} ${m}`),
    info: (m) => console.log(`${prefix} ${m}`),
    warn: (m) => console.warn(`${prefix} ${m}`),
    error: (m) => console.error(`${prefix} ${m}`),
  };
}

// an error whose reason a handler sees in ctx.signal.reason
class TaskAbortedError extends Error {
  constructor(message, reason) {
    super(message);
    this.name = 'TaskAbortedError';
    this.reason = reason; // 'lost' | 'shutdown'
  }
}

// what an activity handler gets as its first argument (API.md section 7.2)
class ActivityContext {
  constructor(worker, task) {
    const row = task.row;
    this.instanceId = row.instance_id;
    this.executionId = row.execution_id;
    this.orchestrationName = row.orchestration_name;
    this.orchestrationVersion = row.orchestration_version;
    this.activityName = row.activity_name;
    this.activityId = toNumber(row.activity_id);
    this.attempt = row.attempt;
    this.workerId = worker.workerId;
    this.taskId = toNumber(row.task_id);
    this.taskQueue = worker.taskQueue;
    this.signal = task.controller.signal;
    Object.defineProperty(this, '_worker', { value: worker });
    Object.defineProperty(this, '_task', { value: task });
  }
  /** When the current lease ends (moved by every successful heartbeat). */
  get leaseExpiresAt() {
    return new Date(this._task.leaseDeadline);
  }
  traceInfo(message) { this._worker._trace('info', message, this); }
  traceWarn(message) { this._worker._trace('warn', message, this); }
  traceError(message) { this._worker._trace('error', message, this); }
  traceDebug(message) { this._worker._trace('debug', message, this); }
  /** Extend the lease now; false (and signal aborted) when the task is no longer this worker's. */
  heartbeat() { return this._worker._heartbeat(this._task, true); }
  /** true once signal is aborted */
  isCancelled() { return this.signal.aborted; }
}

class Worker {
  /**
   * @param {object} opts see index.d.ts (WorkerOptions)
   */
  constructor(opts = {}) {
    this.taskQueue = opts.taskQueue || 'default';
    this.concurrency = opts.concurrency === undefined ? 8 : opts.concurrency;
    this.leaseMs = opts.leaseMs === undefined ? 30000 : opts.leaseMs;
    this.pollWaitMs = opts.pollWaitMs === undefined ? 5000 : opts.pollWaitMs;
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs || Math.max(10, Math.floor(this.leaseMs / 3));
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs === undefined ? 30000 : opts.shutdownTimeoutMs;
    this.workerId = opts.workerId || defaultWorkerId();
    this.registerOnStart = opts.register !== false;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RangeError('concurrency must be an integer >= 1');
    }
    if (!(this.leaseMs >= 100)) throw new RangeError('leaseMs must be at least 100');
    if (!(this.pollWaitMs >= 0)) throw new RangeError('pollWaitMs must be >= 0');
    this._backoffOpts = Object.assign({ initialDelayMs: 100, maxDelayMs: 5000 }, opts.reconnect || {});
    this._traceSink = opts.traceSink || consoleSink;
    this._logLevel = LEVELS[opts.logLevel || 'info'] || LEVELS.info;
    this._log = opts.logger || consoleLogger(`[pg-duroxide worker ${this.workerId}]`);
    this._cfg = pgConfig(opts, `pg-duroxide worker ${this.workerId}`.slice(0, 63));
    this._target = targetOf(this._cfg);
    this._poolSize = opts.poolSize || Math.min(4, this.concurrency) + 1;
    this._reportConcurrency = opts.reportConcurrency || 1;
    this._activities = new Map();
    this._active = new Map(); // task_id -> task, from its claim until its outcome is reported
    this._running = 0; // handlers running (what concurrency limits)
    this._state = 'new'; // new | starting | running | stopping | stopped
    this._slotWaiters = [];
    this._stopController = new AbortController();
    this._claimClient = null;
    this._claimPid = null;
    this._claimInFlight = false;
    this._pendingReleases = [];
    this._stats = { claimed: 0, completed: 0, failed: 0, released: 0, lost: 0, reconnects: 0, claimCalls: 0, reportCalls: 0 };
    if (opts.handleSignals) this._installSignalHandlers(opts.handleSignals);
  }

  /** Register a handler: async (ctx, input) => result.  Before start(). */
  registerActivity(name, handler) {
    if (typeof name !== 'string' || name === '') throw new TypeError('activity name must be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError(`handler of activity "${name}" must be a function`);
    if (this._state !== 'new') throw new Error('registerActivity must be called before start()');
    this._activities.set(name, handler);
    return this;
  }

  /** Counters since start: claimed, completed, failed, released, lost, reconnects, claimCalls, reportCalls. */
  get stats() {
    return Object.assign({ running: this._running }, this._stats);
  }

  /**
   * Check the database, register every activity as external on taskQueue
   * (unless register: false), then claim and run tasks until shutdown().
   * Rejects with a DuroxideError when the database is not usable.
   */
  async start() {
    if (this._state !== 'new') throw new Error(`worker already ${this._state}`);
    if (this._activities.size === 0) throw new Error('no activity registered: call registerActivity() before start()');
    this._state = 'starting';
    this._pool = new pg.Pool(Object.assign({}, this._cfg, { max: this._poolSize }));
    this._pool.on('error', (err) => this._log.debug(`idle connection closed: ${err.message}`));
    // one pool connection stays free for heartbeats and releases
    this._reporter = new Reporter(this._pool, Math.min(this._reportConcurrency, Math.max(1, this._poolSize - 1)), 256, this._stats);
    try {
      await this._precheck();
      if (this.registerOnStart) {
        for (const name of this._activities.keys()) {
          try {
            await this._pool.query(REGISTER_SQL, [name, this.taskQueue]);
          } catch (err) {
            throw wrapError(err, `registering external activity "${name}" on task queue "${this.taskQueue}"`, this._target);
          }
        }
      }
    } catch (err) {
      this._state = 'stopped';
      await this._pool.end().catch(() => {});
      throw err;
    }
    this._state = 'running';
    this._loop = this._claimLoop().catch((err) => {
      this._log.error(`claim loop ended: ${err && err.stack || err}`);
    });
  }

  // the checks that make a missing extension or permission a clear error
  async _precheck() {
    let row;
    try {
      row = (await this._pool.query(PRECHECK_SQL)).rows[0];
    } catch (err) {
      throw wrapError(err, 'pg-duroxide worker start', this._target);
    }
    if (!row.version) {
      throw new DuroxideError(
        `the duroxide extension is not installed in database "${row.db}": as a superuser, run CREATE EXTENSION duroxide ` +
        "in it (the server needs shared_preload_libraries = 'duroxide' and duroxide.database = '" + row.db + "')",
        { kind: 'missing_extension', code: '3F000' });
    }
    if (!row.has_protocol) {
      throw new DuroxideError(
        `the duroxide extension in database "${row.db}" is version ${row.version}, which has no external activities ` +
        '(duroxide.claim_tasks): run ALTER EXTENSION duroxide UPDATE (0.2.0 or later)',
        { kind: 'missing_extension', code: '42883' });
    }
    if (!row.is_user) {
      throw new DuroxideError(
        `permission denied: role "${row.role}" is not a member of duroxide_user, which external workers need. ` +
        `A superuser or duroxide_admin can run: GRANT duroxide_user TO "${row.role}"`,
        { kind: 'permission', code: '42501' });
    }
  }

  // ---------------------------------------------------------------- claiming

  // a connected client for claiming (reconnects when it dropped)
  async _claimConnection() {
    if (this._claimClient) return this._claimClient;
    if (this._claimConnected) this._stats.reconnects++; // every attempt after the first connection
    const client = new pg.Client(Object.assign({}, this._cfg, {
      // a dead peer must not hang the long poll forever
      query_timeout: this.pollWaitMs + Math.max(10000, this.leaseMs),
    }));
    client.on('error', (err) => {
      this._log.debug(`claim connection error: ${err.message}`);
      if (this._claimClient === client) this._claimClient = null;
    });
    client.on('end', () => {
      if (this._claimClient === client) this._claimClient = null;
    });
    await client.connect();
    this._claimConnected = true;
    this._claimClient = client;
    this._claimPid = client.processID;
    return client;
  }

  _dropClaimConnection() {
    const c = this._claimClient;
    this._claimClient = null;
    if (c) c.end().catch(() => {});
  }

  // resolves when a handler slot frees up (or at shutdown)
  _waitForSlot() {
    return new Promise((resolve) => this._slotWaiters.push(resolve));
  }

  _slotFreed() {
    const waiters = this._slotWaiters;
    this._slotWaiters = [];
    for (const w of waiters) w();
  }

  // claim tasks while running: as many as there are free slots, waiting
  // up to pollWaitMs in the database for one to arrive
  async _claimLoop() {
    const backoff = new Backoff(this._backoffOpts);
    let hadError = false;
    let gathered = false;
    while (this._state === 'running') {
      const free = this.concurrency - this._running;
      // a handler's slot frees when it returns, while its outcome is being
      // reported; but no more than 4 x concurrency outcomes wait for that
      if (free <= 0 || this._active.size - this._running >= 4 * this.concurrency) {
        await this._waitForSlot();
        continue;
      }
      // a busy worker: give the other running handlers a moment (2 ms) to
      // finish too, so that one claim takes several tasks (fewer claim
      // transactions); an idle one claims at once
      if (!gathered && this._running > 0 && free < Math.ceil(this.concurrency / 2)) {
        gathered = true;
        await Promise.race([this._waitForSlot(), sleep(2)]);
        continue;
      }
      gathered = false;
      let rows;
      try {
        const client = await this._claimConnection();
        if (this._state !== 'running') break;
        this._claimInFlight = true;
        this._stats.claimCalls++;
        const r = await client.query(CLAIM_SQL, [this.taskQueue, this.workerId, free, this.leaseMs, this.pollWaitMs]);
        rows = r.rows;
        if (hadError) {
          this._log.info('claiming again');
          hadError = false;
        }
        backoff.reset();
      } catch (err) {
        this._claimInFlight = false;
        if (this._state !== 'running') break; // the cancel of shutdown()
        const e = wrapError(err, 'claiming tasks', this._target);
        if (e.kind === 'connection' || !this._claimClient || err.code === '57014') {
          this._dropClaimConnection();
        }
        const delay = backoff.next();
        this._log[hadError ? 'debug' : 'warn'](`${e.message}; retrying in ${delay} ms`);
        hadError = true;
        await sleep(delay, this._stopController.signal);
        continue;
      } finally {
        this._claimInFlight = false;
      }
      for (const row of rows) {
        this._stats.claimed++;
        if (this._state !== 'running') {
          // claimed while shutdown began: give it back at once
          this._pendingReleases.push(this._releaseRow(row));
          continue;
        }
        this._runTask(row);
      }
    }
  }

  // ---------------------------------------------------------------- running

  _runTask(row) {
    const task = {
      id: row.task_id,
      token: row.lease_token,
      row,
      controller: new AbortController(),
      leaseDeadline: row.lease_expires_at ? new Date(row.lease_expires_at).getTime() : Date.now() + this.leaseMs,
      state: 'running', // running | lost | released | reporting | done
      hbInFlight: null,
    };
    this._active.set(task.id, task);
    this._running++;
    task.handlerRunning = true;
    task.timer = setInterval(() => {
      this._heartbeat(task, false).catch(() => {});
    }, this.heartbeatIntervalMs);
    task.finished = this._execute(task).finally(() => {
      clearInterval(task.timer);
      this._handlerDone(task);
      this._active.delete(task.id);
      this._slotFreed();
    });
  }

  // the handler has returned: its slot is free (the outcome may still be reported)
  _handlerDone(task) {
    if (!task.handlerRunning) return;
    task.handlerRunning = false;
    this._running--;
    this._slotFreed();
  }

  // run the handler, then report its outcome
  async _execute(task) {
    const ctx = new ActivityContext(this, task);
    const handler = this._activities.get(task.row.activity_name);
    let outcome;
    try {
      if (!handler) {
        throw new Error(`activity "${task.row.activity_name}" has no handler in worker ${this.workerId} ` +
          `(task queue "${this.taskQueue}" handles: ${[...this._activities.keys()].join(', ')})`);
      }
      const value = await handler(ctx, task.row.input);
      let json;
      try {
        json = JSON.stringify(value === undefined ? null : value);
      } catch (err) {
        throw new Error(`activity "${task.row.activity_name}" returned a value that is not JSON: ${err.message}`);
      }
      outcome = { ok: true, json };
    } catch (err) {
      outcome = { ok: false, error: errorText(err).slice(0, MAX_ERROR_TEXT) };
    }
    clearInterval(task.timer);
    this._handlerDone(task);
    if (task.state === 'released') return; // shutdown gave it back
    if (task.state === 'lost' && task.lostDefinitely) {
      this._log.debug(`task ${task.id}: outcome dropped (the lease was lost)`);
      return;
    }
    if (task.hbInFlight) await task.hbInFlight.catch(() => {});
    if (task.state === 'released') return;
    task.state = 'reporting';
    await this._report(task, outcome);
    task.state = 'done';
  }

  // complete_task / fail_task, retried over reconnects while the lease may hold
  async _report(task, outcome) {
    const backoff = new Backoff(this._backoffOpts);
    const giveUpAt = Math.max(task.leaseDeadline, Date.now()) + this.leaseMs;
    for (;;) {
      try {
        const ok = await this._reporter.submit(task.id, task.token, outcome);
        if (ok) this._stats[outcome.ok ? 'completed' : 'failed']++;
        else {
          this._stats.lost++;
          this._log.debug(`task ${task.id}: outcome not recorded (the lease no longer held)`);
        }
        return ok;
      } catch (err) {
        if (isConnectionError(err)) {
          if (Date.now() > giveUpAt || this._state === 'stopped') {
            this._log.warn(`task ${task.id}: giving up reporting its outcome (${err.message}); it will be delivered again`);
            return false;
          }
          this._stats.reconnects++;
          await sleep(backoff.next());
          continue;
        }
        if (outcome.ok) {
          // e.g. a result larger than duroxide.max_payload_size: fail the attempt with the reason
          outcome = { ok: false, error: `the database refused the result of activity "${task.row.activity_name}": ${err.message}`.slice(0, MAX_ERROR_TEXT) };
          continue;
        }
        this._log.error(`task ${task.id}: fail_task failed (${err.message}); it will be delivered again`);
        return false;
      }
    }
  }

  // extend the lease; false when the task is no longer this worker's
  async _heartbeat(task, explicit) {
    if (task.state === 'lost') return false;
    if (task.state !== 'running') return task.state !== 'released';
    if (task.hbInFlight) {
      if (!explicit) return true;
      await task.hbInFlight.catch(() => {});
      if (task.state !== 'running') return task.state !== 'lost' && task.state !== 'released';
    }
    const sent = Date.now();
    const p = this._pool.query(HEARTBEAT_SQL, [task.id, task.token, this.leaseMs]);
    task.hbInFlight = p;
    try {
      const ok = (await p).rows[0].ok;
      if (ok) {
        task.leaseDeadline = sent + this.leaseMs;
        return true;
      }
      this._lose(task, true, 'the task was cancelled, withdrawn, timed out or leased to another worker');
      return false;
    } catch (err) {
      if (Date.now() >= task.leaseDeadline) {
        this._lose(task, false, `its lease expired while heartbeats failed (${err.message})`);
        return false;
      }
      this._log.debug(`task ${task.id}: heartbeat failed (${err.message}); retrying`);
      if (explicit) throw wrapError(err, 'heartbeat', this._target);
      return true;
    } finally {
      if (task.hbInFlight === p) task.hbInFlight = null;
    }
  }

  // the task is no longer this worker's: abort the handler's signal
  _lose(task, definitely, why) {
    if (task.state !== 'running') return;
    task.state = 'lost';
    task.lostDefinitely = definitely;
    if (definitely) this._stats.lost++;
    clearInterval(task.timer);
    this._log.debug(`task ${task.id} (${task.row.activity_name}) lost: ${why}`);
    task.controller.abort(new TaskAbortedError(`task ${task.id} lost: ${why}`, 'lost'));
  }

  // release_task for a claimed row, ignoring errors (the lease expires anyway)
  async _releaseRow(row) {
    try {
      const r = await this._pool.query(RELEASE_SQL, [row.task_id, row.lease_token]);
      if (r.rows[0].ok) this._stats.released++;
      return r.rows[0].ok;
    } catch (err) {
      this._log.warn(`task ${row.task_id}: release failed (${err.message}); its lease will expire`);
      return false;
    }
  }

  // a trace line from a handler's ctx
  _trace(level, message, ctx) {
    if (LEVELS[level] < this._logLevel) return;
    try {
      this._traceSink(level, String(message), ctx);
    } catch (e) {
      /* a broken sink must not fail the activity */
    }
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Stop claiming, wait up to timeoutMs (shutdownTimeoutMs) for running
   * handlers, then abort and release the rest, and close the connections.
   */
  async shutdown(opts = {}) {
    const timeoutMs = opts.timeoutMs === undefined ? this.shutdownTimeoutMs : opts.timeoutMs;
    if (this._state === 'new') {
      this._state = 'stopped';
      return;
    }
    if (this._shutdownPromise) return this._shutdownPromise;
    this._shutdownPromise = this._shutdown(timeoutMs);
    return this._shutdownPromise;
  }

  async _shutdown(timeoutMs) {
    while (this._state === 'starting') await sleep(10);
    if (this._state === 'stopped') return;
    this._state = 'stopping';
    this._stopController.abort();
    this._slotFreed();
    // end a waiting claim at once (its transaction rolls back: nothing is leased)
    if (this._claimInFlight && this._claimPid) {
      await this._pool.query('SELECT pg_catalog.pg_cancel_backend($1)', [this._claimPid]).catch(() => {});
    }
    if (this._loop) await this._loop;
    await Promise.all(this._pendingReleases);
    // wait for running handlers, bounded
    const running = [...this._active.values()].map((t) => t.finished);
    if (running.length) {
      let timer;
      await Promise.race([
        Promise.allSettled(running),
        new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      clearTimeout(timer);
    }
    // give back what is still running
    const left = [...this._active.values()].filter((t) => t.state === 'running' || t.state === 'lost');
    await Promise.all(left.map(async (t) => {
      const wasRunning = t.state === 'running';
      t.state = 'released';
      clearInterval(t.timer);
      t.controller.abort(new TaskAbortedError(`task ${t.id} released: the worker is shutting down`, 'shutdown'));
      if (wasRunning) await this._releaseRow(t.row);
    }));
    // outcomes being reported finish (bounded by their own retry limit)
    const reporting = [...this._active.values()].filter((t) => t.state === 'reporting').map((t) => t.finished);
    if (reporting.length) {
      let timer;
      await Promise.race([Promise.allSettled(reporting), new Promise((r) => { timer = setTimeout(r, 5000); })]);
      clearTimeout(timer);
    }
    this._state = 'stopped';
    const claim = this._claimClient;
    this._claimClient = null;
    await Promise.all([
      claim ? claim.end().catch(() => {}) : null,
      this._pool.end().catch(() => {}),
    ]);
    if (this._signalCleanup) this._signalCleanup();
  }

  // opt-in: SIGTERM / SIGINT call shutdown() once
  _installSignalHandlers(which) {
    const signals = Array.isArray(which) ? which : ['SIGTERM', 'SIGINT'];
    const onSignal = (sig) => {
      this._log.info(`${sig}: shutting down`);
      this.shutdown().catch((err) => this._log.error(`shutdown failed: ${err.message}`));
    };
    for (const s of signals) process.once(s, onSignal);
    this._signalCleanup = () => { for (const s of signals) process.removeListener(s, onSignal); };
  }
}

module.exports = { Worker, ActivityContext, TaskAbortedError };
