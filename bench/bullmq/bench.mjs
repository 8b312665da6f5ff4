// BullMQ, measured the way bench/ measures Concierge's queue: one process, one Redis, one
// JSON line per run on stdout.
//
//   node bench.mjs drain --redis redis://127.0.0.1:7390 --jobs 50000 --concurrency 16
//
// drain: pushes `jobs` no-op jobs with addBulk (removeOnComplete, as a user who keeps nothing
// of a finished job would run it; three attempts, as ours), then starts one Worker with
// `concurrency` and times from its start until every job completed.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

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
const options = { removeOnComplete: true, removeOnFail: 1000, attempts: 3 };

async function drain() {
  const connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection });
  await queue.obliterate({ force: true });
  for (let pushed = 0; pushed < jobs; pushed += 1000) {
    const batch = [];
    for (let i = pushed; i < Math.min(jobs, pushed + 1000); i++) {
      batch.push({ name: 'noop', data: { n: i }, opts: options });
    }
    await queue.addBulk(batch);
  }
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const started = process.hrtime.bigint();
  const worker = new Worker(name, async () => {}, {
    connection: new IORedis(redisUrl, { maxRetriesPerRequest: null }),
    concurrency,
  });
  worker.on('completed', () => {
    done += 1;
    if (done === jobs) finish();
  });
  await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rss = process.memoryUsage().rss;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  console.log(JSON.stringify({
    subject: 'bullmq', version: '6.7.0', case: 'drain', jobs, concurrency,
    jobs_per_s: Math.round(jobs / seconds), elapsed_s: Number(seconds.toFixed(3)),
    rss_mib: Number((rss / 1048576).toFixed(1)),
  }));
  process.exit(0);
}

if (a.mode === 'drain') await drain();
else {
  console.error('usage: node bench.mjs drain --redis URL --jobs N --concurrency C');
  process.exit(2);
}
