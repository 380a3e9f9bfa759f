'use strict';
// pg-duroxide -- the Node.js client and external activity worker for
// duroxide (PostgreSQL extension).  See README.md and API.md section 7.2.

const { Client } = require('./lib/client');
const { Worker, ActivityContext, TaskAbortedError } = require('./lib/worker');
const { DuroxideError, isConnectionError } = require('./lib/errors');

module.exports = { Client, Worker, ActivityContext, TaskAbortedError, DuroxideError, isConnectionError };
