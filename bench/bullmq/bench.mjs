// BullMQ, measured the way bench/ measures Concierge's queue: one process, one Redis, one
// JSON line per event on stdout. The Rust bench (`bench/src/bullmq.rs`) runs it on the same
// Redis with the same pinning and reports every Concierge case as a ratio to it.
//
//   node bench.mjs drain   --redis URL --jobs N --concurrency C   (prints filled, waits for go)
//   node bench.mjs enqueue --redis URL --jobs N --callers 32
//   node bench.mjs bulk    --redis URL --jobs N --batch 10000
//   node bench.mjs latency --redis URL --rate R --seconds S --concurrency C
//
// Options as a user who keeps nothing of a finished job would set them (removeOnComplete),
// three attempts as ours; lockDuration, stalledInterval and drainDelay at BullMQ's defaults.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { createInterface } from 'node:readline';

function args(argv) {
  const out = { mode: argv[0] };
  for (let i = 1; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

const a = args(process.argv.slice(2));
const redisUrl = a.redis ?? 'redis://127.0.0.1:6379';
const jobs = Number(a.jobs ?? 50000);
const concurrency = Number(a.concurrency ?? 16);
const name = a.queue ?? `bench-${process.pid}`;
const prefix = a.prefix ?? 'bull';
const options = { removeOnComplete: true, removeOnFail: 1000, attempts: 3 };
const connect = () => new IORedis(redisUrl, { maxRetriesPerRequest: null });
const emit = (line) => console.log(JSON.stringify({ subject: 'bullmq', version: '6.7.0', ...line }));
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

async function fill(queue, n) {
  for (let pushed = 0; pushed < n; pushed += 10000) {
    const batch = [];
    for (let i = pushed; i < Math.min(n, pushed + 10000); i++) {
      batch.push({ name: 'noop', data: { n: i }, opts: options });
    }
    await queue.addBulk(batch);
  }
}

function stdinLine() {
  const rl = createInterface({ input: process.stdin });
  return new Promise((resolve) => rl.once('line', (line) => { rl.close(); resolve(line); }));
}

async function drain() {
  const queue = new Queue(name, { connection: connect(), prefix });
  await queue.obliterate({ force: true });
  await fill(queue, jobs);
  emit({ event: 'filled', jobs });
  await stdinLine();
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  let last = 0n;
  const started = process.hrtime.bigint();
  const worker = new Worker(name, async () => {}, { connection: connect(), concurrency, prefix });
  worker.on('completed', () => {
    done += 1;
    if (done === jobs) { last = process.hrtime.bigint(); finish(); }
  });
  await finished;
  const seconds = Number(last - started) / 1e9;
  const rss = process.memoryUsage().rss;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  emit({
    event: 'done', case: 'drain', jobs, concurrency,
    jobs_per_s: Math.round(jobs / seconds), elapsed_s: Number(seconds.toFixed(3)),
    rss_mib: Number((rss / 1048576).toFixed(1)),
  });
}

async function enqueue() {
  const callers = Number(a.callers ?? 32);
  const queue = new Queue(name, { connection: connect(), prefix });
  await queue.obliterate({ force: true });
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: callers }, async () => {
    while (next < jobs) {
      const n = next++;
      await queue.add('noop', { n }, options);
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await queue.obliterate({ force: true });
  await queue.close();
  emit({ event: 'done', case: 'enqueue', jobs, callers, jobs_per_s: Math.round(jobs / seconds) });
}

async function bulk() {
  const batchSize = Number(a.batch ?? 10000);
  const queue = new Queue(name, { connection: connect(), prefix });
  await queue.obliterate({ force: true });
  const batches = [];
  for (let pushed = 0; pushed < jobs; pushed += batchSize) {
    const batch = [];
    for (let i = pushed; i < Math.min(jobs, pushed + batchSize); i++) {
      batch.push({ name: 'noop', data: { n: i }, opts: options });
    }
    batches.push(batch);
  }
  const started = process.hrtime.bigint();
  for (const batch of batches) await queue.addBulk(batch);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await queue.obliterate({ force: true });
  await queue.close();
  emit({ event: 'done', case: 'enqueue_bulk', jobs, batch: batchSize, jobs_per_s: Math.round(jobs / seconds) });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// Enqueue → start at a steady rate: the worker runs in this process, each job carries the
// microsecond it was added at, and the processor records now − then.
async function latency() {
  const rate = Number(a.rate ?? 1000);
  const seconds = Number(a.seconds ?? 10);
  const queue = new Queue(name, { connection: connect(), prefix });
  await queue.obliterate({ force: true });
  const seen = [];
  const worker = new Worker(name, async (job) => { seen.push(nowUs() - job.data.t_us); },
    { connection: connect(), concurrency, prefix });
  await worker.waitUntilReady();
  // Let the worker reach its blocking wait before the first push.
  await new Promise((r) => setTimeout(r, 500));
  const total = rate * seconds;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    queue.add('noop', { n: i, t_us: nowUs() }, options);
  }
  const deadline = performance.now() + 10000;
  while (seen.length < total && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  const sorted = seen.slice().sort((x, y) => x - y);
  emit({
    event: 'done', case: 'latency_at_rate', rate, seconds, complete: seen.length,
    p50_us: percentile(sorted, 50), p99_us: percentile(sorted, 99), max_us: sorted.at(-1) ?? 0,
  });
}

const modes = { drain, enqueue, bulk, latency };
if (!modes[a.mode]) {
  console.error('usage: node bench.mjs drain|enqueue|bulk|latency --redis URL [options]');
  process.exit(2);
}
await modes[a.mode]();
process.exit(0);
