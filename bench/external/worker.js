'use strict';
// bench/external/worker.js -- the external worker of bench/run.sh's
// external scenarios (XHello, XFan100, XHelloLatency): a pg-duroxide Worker
// whose activity XEcho returns its input, like the in-database Echo.
//
//   node worker.js --client DIR --queue bench --concurrency 16
//
// DIR is a copy of clients/node with its node_modules.  The PG* variables
// name the database.  Prints "ready PID" once start() has registered XEcho as
// external and claims; on SIGTERM shuts down and prints its stats as one
// JSON line.

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}
const { Worker } = require(opt('client', '../../clients/node'));

async function main() {
  const worker = new Worker({
    taskQueue: opt('queue', 'bench'),
    concurrency: Number(opt('concurrency', '16')),
    leaseMs: Number(opt('lease-ms', '30000')),
    pollWaitMs: Number(opt('poll-wait-ms', '5000')),
    workerId: `bench-${process.pid}`,
  });
  worker.registerActivity('XEcho', async (ctx, input) => input);
  await worker.start();
  const t0 = process.cpuUsage();
  console.log(`ready ${process.pid}`);
  const stop = async () => {
    await worker.shutdown({ timeoutMs: 5000 });
    const cpu = process.cpuUsage(t0);
    console.log(JSON.stringify(Object.assign({ cpu_seconds: (cpu.user + cpu.system) / 1e6 }, worker.stats)));
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  console.error(err && err.stack || err);
  process.exit(1);
});
