'use strict';
// lib/client.js -- Client: the duroxide client functions (API.md section 5)
// under the duroxide-node names, over a pg.Pool, with parameterized queries.

const pg = require('pg');
const { wrapError } = require('./errors');
const { pgConfig, targetOf, jsonParam, toNumber } = require('./util');

// an orchestration_status row as the object duroxide-node returns
function statusFromRow(r) {
  if (!r) return null;
  return {
    instanceId: r.instance_id,
    orchestrationName: r.orchestration_name,
    orchestrationVersion: r.orchestration_version,
    status: r.status,
    output: r.output,
    error: r.error,
    customStatus: r.custom_status,
    executionId: r.execution_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    parentInstanceId: r.parent_instance_id === undefined ? null : r.parent_instance_id,
  };
}

// snake_case keys of a metrics object as camelCase
function camelKeys(obj) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return obj;
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k.replace(/_([a-z])/g, (m, c) => c.toUpperCase())] = v;
  }
  return out;
}

class Client {
  /**
   * @param {object} opts connectionString, or connection (pg.ClientConfig),
   *   or pool (an existing pg.Pool, not closed by close()); poolSize (10)
   */
  constructor(opts = {}) {
    if (opts.pool) {
      this._pool = opts.pool;
      this._ownPool = false;
      this._target = targetOf(opts.pool.options || {});
    } else {
      const cfg = pgConfig(opts, 'pg-duroxide client');
      cfg.max = opts.poolSize || 10;
      this._pool = new pg.Pool(cfg);
      this._ownPool = true;
      this._target = targetOf(cfg);
      // an idle connection that drops is removed by the pool; the next query reconnects
      this._pool.on('error', () => {});
    }
  }

  // one parameterized query; errors become DuroxideErrors naming the method
  async _query(method, text, params) {
    try {
      return await this._pool.query(text, params);
    } catch (err) {
      throw wrapError(err, method, this._target);
    }
  }

  /** Start an instance; returns its id (idempotent: an existing id is left as it is). */
  async startOrchestration(instanceId, name, input, version) {
    const r = await this._query('startOrchestration',
      'SELECT duroxide.start_orchestration($1, $2, $3::jsonb, $4) AS id',
      [instanceId, name, jsonParam(input), version === undefined ? null : version]);
    return r.rows[0].id;
  }

  /** startOrchestration with the version first-class (duroxide-node's name). */
  async startOrchestrationVersioned(instanceId, name, input, version) {
    return this.startOrchestration(instanceId, name, input, version);
  }

  /** Wait until the instance is terminal; raises when timeoutMs (30000) passes first. */
  async waitForOrchestration(instanceId, timeoutMs = 30000) {
    const r = await this._query('waitForOrchestration',
      'SELECT * FROM duroxide.wait_for_orchestration($1, $2)', [instanceId, timeoutMs]);
    return statusFromRow(r.rows[0]);
  }

  /** The instance's status; status 'NotFound' for an unknown id. */
  async getOrchestrationStatus(instanceId) {
    const r = await this._query('getOrchestrationStatus',
      'SELECT * FROM duroxide.get_orchestration_status($1)', [instanceId]);
    return statusFromRow(r.rows[0]);
  }

  /** Alias of getOrchestrationStatus. */
  async getStatus(instanceId) {
    return this.getOrchestrationStatus(instanceId);
  }

  /** Raise an event; data is any JSON value. */
  async raiseEvent(instanceId, eventName, data) {
    await this._query('raiseEvent', 'SELECT duroxide.raise_event($1, $2, $3::jsonb)',
      [instanceId, eventName, jsonParam(data === undefined ? null : data)]);
  }

  /** Cancel an instance (and its sub-orchestrations) at its next turn. */
  async cancelOrchestration(instanceId, reason) {
    await this._query('cancelOrchestration', 'SELECT duroxide.cancel_orchestration($1, $2)',
      [instanceId, reason === undefined ? null : reason]);
  }

  /** Delete an instance; a running one only with { force: true }. */
  async deleteInstance(instanceId, opts = {}) {
    const force = typeof opts === 'boolean' ? opts : !!(opts && opts.force);
    await this._query('deleteInstance', 'SELECT duroxide.delete_instance($1, $2)', [instanceId, force]);
  }

  /** The instance's history (one execution, or all when executionId is omitted). */
  async getHistory(instanceId, executionId) {
    const r = await this._query('getHistory',
      'SELECT * FROM duroxide.get_history($1, $2)', [instanceId, executionId === undefined ? null : executionId]);
    return r.rows.map((e) => ({
      eventId: toNumber(e.event_id),
      eventType: e.event_type,
      sourceEventId: toNumber(e.source_event_id),
      createdAt: e.created_at,
      data: e.data,
    }));
  }

  /** duroxide.get_system_metrics() with camelCase keys (totalInstances, runningInstances, ...). */
  async getSystemMetrics() {
    const r = await this._query('getSystemMetrics', 'SELECT duroxide.get_system_metrics() AS m', []);
    return camelKeys(r.rows[0].m);
  }

  /** { orchestratorQueue, workerQueue, timerQueue } */
  async getQueueDepths() {
    const r = await this._query('getQueueDepths', 'SELECT * FROM duroxide.get_queue_depths()', []);
    const q = r.rows[0] || {};
    return {
      orchestratorQueue: toNumber(q.orchestrator_queue),
      workerQueue: toNumber(q.worker_queue),
      timerQueue: toNumber(q.timer_queue),
    };
  }

  /** Close the pool (unless it was passed in). */
  async close() {
    if (this._ownPool && !this._closed) {
      this._closed = true;
      await this._pool.end();
    }
  }
}

module.exports = { Client, statusFromRow };
