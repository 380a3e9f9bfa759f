#!/usr/bin/env node
// bench/peers/dbos/bench.js -- the benchmark's peer: DBOS Transact
// (@dbos-inc/dbos-sdk, pinned by package-lock.json) running the scenarios of
// bench/run.sh as DBOS workflows with steps, against the benchmark's own
// PostgreSQL instance (database `dbos`).  Called by bench/run.sh, one process
// per scenario; see bench/README.md ("The DBOS peer") for what maps to what.
//
//   node bench.js --url URL --scenario NAME --count N [--param n]
//                 [--starters S] [--pool P] [--timeout SEC] [--prefix P]
//
// (workflow ids are <prefix>-1 .. <prefix>-N; prefix default d-<scenario>)
//
// Scenarios (the same as ours, bench/workload.sql):
//   Hello    one Echo step, returns its input (the instance number)
//   Chain    n Echo steps in sequence, each fed the previous result + 1;
//            returns n
//   Fan      n Echo steps started at once (Promise.all), inputs 1..n;
//            returns [1..n] in argument order
//   Latency  `count` sequential Hello round trips (start, then await the
//            result), after 10 unmeasured ones
//
// Each process first runs 2 x S unmeasured Hello workflows at once
// (`<prefix>-warm-<i>`, results checked) to open the pool's connections.
// Throughput scenarios: S concurrent starter loops (S = bench/run.sh's
// --clients, 8) each take the next instance number and call
// DBOS.startWorkflow (its workflow_status and workflow_input rows, one
// commit), then take the next; each start returns a handle at once and the workflow runs in this
// process meanwhile.  seconds = from the first start call to the last
// result.  Every result is compared with the expected one; bench/run.sh
// checks the database rows afterwards as well.
//
// Prints one JSON line on stdout: {"scenario", "count", "seconds",
// "start_seconds", "cpu_seconds" (this process's user + system CPU during
// the measured part), "write_transactions" (transaction ids the server
// assigned during the measured part), "running_at_last_start", "right",
// "wrong", "errors", "first_error", latency fields}; exits 1 if any instance failed or returned
// a wrong result, 2 on bad arguments.
'use strict';

const { DBOS } = require('@dbos-inc/dbos-sdk');
const pg = require('pg');

function parseArgs(argv) {
    const a = { starters: 8, pool: undefined, param: 0, timeout: 600 };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = argv[i + 1];
        switch (k) {
            case '--url': a.url = v; i++; break;
            case '--scenario': a.scenario = v; i++; break;
            case '--count': a.count = Number.parseInt(v, 10); i++; break;
            case '--param': a.param = Number.parseInt(v, 10); i++; break;
            case '--starters': a.starters = Number.parseInt(v, 10); i++; break;
            case '--pool': a.pool = Number.parseInt(v, 10); i++; break;
            case '--timeout': a.timeout = Number.parseInt(v, 10); i++; break;
            case '--prefix': a.prefix = v; i++; break;
            default:
                process.stderr.write(`bench.js: unknown argument ${k}\n`);
                process.exit(2);
        }
    }
    if (!a.url || !['Hello', 'Chain', 'Fan', 'Latency'].includes(a.scenario) ||
        !(a.count > 0) || !(a.starters > 0)) {
        process.stderr.write('usage: bench.js --url URL --scenario Hello|Chain|Fan|Latency --count N ' +
                             '[--param n] [--starters S] [--pool P] [--timeout SEC] [--prefix P]\n');
        process.exit(2);
    }
    a.prefix = a.prefix || `d-${a.scenario}${a.param || ''}`;
    return a;
}

// ---------------------------------------------------------------- workload
// the step: returns its input (our Echo activity)
async function echo(x) {
    return x;
}
const echoStep = DBOS.registerStep(echo, { name: 'Echo' });

async function hello(x) {
    return await echoStep(x);
}
async function chain(input) {
    let acc = 0;
    for (let i = 1; i <= input.n; i++) {
        acc = await echoStep(acc + 1);
    }
    return acc;
}
async function fan(input) {
    const steps = [];
    for (let i = 1; i <= input.n; i++) {
        steps.push(echoStep(i));
    }
    return await Promise.all(steps);
}
const workflows = {
    Hello: DBOS.registerWorkflow(hello, { name: 'Hello' }),
    Chain: DBOS.registerWorkflow(chain, { name: 'Chain' }),
    Fan: DBOS.registerWorkflow(fan, { name: 'Fan' }),
};

// the result an instance must return (bench.expected in workload.sql)
function expected(scenario, input) {
    switch (scenario) {
        case 'Hello': return input;
        case 'Chain': return input.n;
        case 'Fan': return Array.from({ length: input.n }, (_, i) => i + 1);
    }
    throw new Error(`no expected result for ${scenario}`);
}
function inputOf(scenario, i, param) {
    return scenario === 'Hello' ? i : { n: param };
}

function secondsSince(t0) {
    return Number(process.hrtime.bigint() - t0) / 1e9;
}

// ---------------------------------------------------------------- scenarios
// a connection of its own, outside the SDK's pool, that reads the server's
// next transaction id around the measured part: the difference is the
// number of write transactions meanwhile (each txid_current() takes one)
let xidClient = null;
async function txid() {
    const r = await xidClient.query('SELECT txid_current()::text AS x');
    return BigInt(r.rows[0].x);
}

async function throughput(a) {
    const wf = workflows[a.scenario];
    const results = new Array(a.count);
    let next = 1;
    let done = 0;
    let right = 0;
    let wrong = 0;
    let errors = 0;
    let firstError = null;
    const xid0 = await txid();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();

    function check(i, input, p) {
        return p.then((r) => {
            if (JSON.stringify(r) === JSON.stringify(expected(a.scenario, input))) {
                right++;
            } else {
                wrong++;
                if (firstError === null) {
                    firstError = `${a.prefix}-${i} returned ${JSON.stringify(r).slice(0, 200)}`;
                }
            }
        }, (e) => {
            errors++;
            if (firstError === null) {
                firstError = `${a.prefix}-${i}: ${e && e.message ? e.message : e}`;
            }
        }).finally(() => { done++; });
    }

    async function starter() {
        for (;;) {
            const i = next++;
            if (i > a.count) {
                return;
            }
            const input = inputOf(a.scenario, i, a.param);
            try {
                const h = await DBOS.startWorkflow(wf, { workflowID: `${a.prefix}-${i}` })(input);
                results[i - 1] = check(i, input, h.getResult());
            } catch (e) {
                results[i - 1] = check(i, input, Promise.reject(e));
            }
        }
    }
    const starters = [];
    for (let s = 0; s < Math.min(a.starters, a.count); s++) {
        starters.push(starter());
    }
    await Promise.all(starters);
    const startSeconds = secondsSince(t0);
    const runningAtLastStart = a.count - done;
    await withTimeout(Promise.all(results), a.timeout);
    const seconds = secondsSince(t0);
    const cpu = process.cpuUsage(cpu0);
    const xids = Number(await txid() - xid0 - 1n);
    return {
        scenario: a.scenario, param: a.param, count: a.count, seconds, start_seconds: startSeconds,
        cpu_seconds: (cpu.user + cpu.system) / 1e6, write_transactions: xids,
        running_at_last_start: runningAtLastStart, right, wrong, errors, first_error: firstError,
    };
}

// before the measured part: 2 x S Hello workflows at once, checked, so that
// the pool's connections are open and the code is compiled, as our engine
// processes and pgbench sessions are before their first measured transaction
async function warmUp(a) {
    const n = 2 * a.starters;
    const results = await Promise.all(Array.from({ length: n }, async (_, i) => {
        const h = await DBOS.startWorkflow(workflows.Hello, { workflowID: `${a.prefix}-warm-${i + 1}` })(i + 1);
        return h.getResult();
    }));
    results.forEach((r, i) => {
        if (r !== i + 1) {
            throw new Error(`warm-up workflow ${a.prefix}-warm-${i + 1} returned ${JSON.stringify(r)}`);
        }
    });
}

// sequential start -> result round trips (our HelloLatency)
async function latency(a) {
    const wf = workflows.Hello;
    const lat = [];
    let right = 0;
    let wrong = 0;
    let errors = 0;
    let firstError = null;
    for (let i = 1; i <= a.count + 10; i++) {
        const t0 = process.hrtime.bigint();
        try {
            const h = await DBOS.startWorkflow(wf, { workflowID: `${a.prefix}-${i}` })(i);
            const r = await h.getResult();
            if (i > 10) {
                lat.push(secondsSince(t0) * 1000);
            }
            if (r === i) {
                right++;
            } else {
                wrong++;
                firstError = firstError || `${a.prefix}-${i} returned ${JSON.stringify(r)}`;
            }
        } catch (e) {
            errors++;
            firstError = firstError || `${a.prefix}-${i}: ${e && e.message ? e.message : e}`;
        }
    }
    lat.sort((x, y) => x - y);
    const pick = (q) => (lat.length ? lat[Math.max(0, Math.ceil(lat.length * q) - 1)] : null);
    return {
        scenario: 'Latency', count: a.count, total: a.count + 10, right, wrong, errors, first_error: firstError,
        median_ms: lat.length ? lat[Math.floor((lat.length + 1) / 2) - 1] : null,
        p95_ms: pick(0.95), max_ms: lat.length ? lat[lat.length - 1] : null,
    };
}

function withTimeout(p, seconds) {
    let timer;
    return Promise.race([
        p.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`not done after ${seconds} s`)), seconds * 1000);
        }),
    ]);
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const config = { name: 'duroxide-bench', systemDatabaseUrl: a.url, logLevel: 'warn' };
    if (a.pool !== undefined) {
        config.systemDatabasePoolSize = a.pool;
    }
    DBOS.setConfig(config);
    xidClient = new pg.Client({ connectionString: a.url });
    await xidClient.connect();
    await DBOS.launch();
    let out;
    try {
        await warmUp(a);
        out = a.scenario === 'Latency' ? await latency(a) : await throughput(a);
    } catch (e) {
        out = { scenario: a.scenario, count: a.count, right: 0, wrong: 0, errors: a.count,
                first_error: e && e.message ? e.message : String(e) };
    }
    await DBOS.shutdown();
    await xidClient.end();
    process.stdout.write(JSON.stringify(out) + '\n');
    const total = out.total || out.count;
    process.exitCode = out.right === total && !out.wrong && !out.errors ? 0 : 1;
}

main().catch((e) => {
    process.stderr.write(`bench.js: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
});
