import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Histogram } from '../realtime/stats';
import type { LoadCommand, LoadReport, LoadTask } from './ipc';

/**
 * One load process: `concurrency` clients in a closed loop over keep-alive HTTP/1.1
 * connections (node:http, lighter than fetch: these clients share the API's two cores).
 * Requests before `measureFrom` warm up (JIT, pools, caches); those answered in the measured
 * window are counted, with their latency in a log-scale histogram (bench/realtime/stats.ts).
 */

const now = (): number => performance.timeOrigin + performance.now();

interface Answer {
  status: number | 'transport';
  body: string;
}

function call(agent: Agent, base: URL, task: LoadTask, idempotencyKey: boolean): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (task.token) headers.authorization = `Bearer ${task.token}`;
    if (idempotencyKey) headers['idempotency-key'] = randomUUID();
    if (task.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(task.body));
    }
    const req = request({ agent, host: base.hostname, port: base.port, method: task.method, path: task.path, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => resolve({ status: 'transport', body: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', (err) => resolve({ status: 'transport', body: err.message }));
    if (task.body !== undefined) req.end(task.body);
    else req.end();
  });
}

function errorCode(body: string): string {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? 'no code';
  } catch {
    return 'not JSON';
  }
}

async function run(command: LoadCommand): Promise<LoadReport> {
  const base = new URL(command.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: command.concurrency, maxFreeSockets: command.concurrency });
  const latency = new Histogram();
  const statuses: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  const sendTimes: [string, number][] = [];
  let ok = 0;
  let warmupRequests = 0;
  let next = 0;
  let exhausted = false;
  let lastAnswer = command.measureFrom;

  const client = async () => {
    for (;;) {
      const leaves = now();
      if (leaves >= command.measureUntil || exhausted) return;
      if (command.once && next >= command.tasks.length) {
        exhausted = true;
        return;
      }
      const task = command.tasks[next++ % command.tasks.length]!;
      const answer = await call(agent, base, task, command.idempotencyKey);
      const answered = now();
      if (leaves < command.measureFrom) {
        warmupRequests++;
        continue;
      }
      lastAnswer = Math.max(lastAnswer, answered);
      latency.record(answered - leaves);
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status === command.okStatus) {
        ok++;
        if (command.recordSendTimes) sendTimes.push([(JSON.parse(answer.body) as { sendId: string }).sendId, leaves]);
      } else {
        const code = answer.status === 'transport' ? `transport: ${answer.body}` : errorCode(answer.body);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, client));
  agent.destroy();
  // Throughput over the window the requests had: to the deadline, or to the last answer when
  // the tasks ran out first.
  const windowMs = (exhausted ? lastAnswer : command.measureUntil) - command.measureFrom;
  return { type: 'done', statuses, errorCodes, ok, latency: latency.toJSON(), windowMs, exhausted, warmupRequests, sendTimes };
}

process.on('message', (command: LoadCommand) => {
  if (command.type !== 'run') return;
  void run(command).then(
    (report) => process.send?.(report),
    (err: unknown) => {
      console.error('[bench:gifts sender]', err);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
