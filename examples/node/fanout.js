'use strict';
// examples/node/fanout.js -- a fan-out whose activities are JavaScript.
//
// Starts a small HTTP price service on 127.0.0.1 (an ephemeral port), a
// pg-duroxide Worker whose activity FetchPrice asks that service for one
// item's price, and then the PriceBasket orchestration (fanout.sql) for a
// basket of items: the orchestration schedules one FetchPrice per item at
// once and awaits them all.  The service answers 503 to the first request
// for "durian", so that call fails once and is retried by the
// orchestration's retry policy.
//
//   node examples/node/fanout.js        (PG* variables or DATABASE_URL name the database,
//                                        where fanout.sql was loaded)

const http = require('http');
const { Worker, Client } = require('../../clients/node'); // in an application: require('pg-duroxide')

const PRICES = { apple: 0.5, pear: 0.75, plum: 0.3, kiwi: 0.45, mango: 1.8, durian: 7.9, fig: 0.9, lime: 0.25 };

// the price service: GET /price?item=NAME -> {"item", "price"}, after 20-60 ms
function startPriceService() {
  const seen = new Map();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const item = url.searchParams.get('item');
    const n = (seen.get(item) || 0) + 1;
    seen.set(item, n);
    setTimeout(() => {
      if (item === 'durian' && n === 1) {
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: 'busy, try again' }));
      }
      if (!(item in PRICES)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: `no price for ${item}` }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ item, price: PRICES[item], served: n }));
    }, 20 + Math.floor(Math.random() * 40));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen })));
}

async function main() {
  const connectionString = process.env.DATABASE_URL; // undefined: pg uses PGHOST, PGPORT, PGDATABASE, PGUSER
  const { server, seen } = await startPriceService();
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`price service on ${base}`);

  const worker = new Worker({ connectionString, taskQueue: 'prices', concurrency: 8, leaseMs: 10000 });
  worker.registerActivity('FetchPrice', async (ctx, input) => {
    ctx.traceInfo(`asking for ${input.item}`);
    const res = await fetch(`${base}/price?item=${encodeURIComponent(input.item)}`, { signal: ctx.signal });
    const body = await res.json();
    if (!res.ok) throw new Error(`price service: ${res.status} ${body.error}`); // fails this attempt (DX001)
    return { item: body.item, price: body.price, attempt: ctx.attempt };
  });
  await worker.start();

  const client = new Client({ connectionString });
  const basket = Object.keys(PRICES);
  const id = `basket-${Date.now()}`;
  const t0 = Date.now();
  await client.startOrchestration(id, 'PriceBasket', { basket });
  const st = await client.waitForOrchestration(id, 60000);
  console.log(`${id}: ${st.status} in ${Date.now() - t0} ms`);
  console.log(JSON.stringify(st.output, null, 2));

  await worker.shutdown();
  await client.close();
  server.close();

  // check what the example promises (run.sh relies on the exit status)
  const expected = Math.round(Object.values(PRICES).reduce((a, b) => a + b, 0) * 100) / 100;
  const durian = st.output && st.output.prices.find((p) => p.item === 'durian');
  if (st.status !== 'Completed' || st.output.total !== expected || st.output.prices.length !== basket.length ||
      !durian || durian.attempt !== 2 || seen.get('durian') !== 2) {
    console.error(`unexpected result (wanted total ${expected}, durian on its 2nd attempt)`);
    process.exit(1);
  }
  console.log(`total ${st.output.total} as expected; durian took ${durian.attempt} attempts`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
