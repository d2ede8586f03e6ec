import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(__dirname, '../../..');
/** Output kept per process, for the failure message: the tail is what explains a death. */
const OUTPUT_TAIL = 64 * 1024;

export interface FleetMember {
  name: string;
  entry: 'api/main.ts' | 'workers/main.ts';
  env: Record<string, string>;
  /** Resolves once the process serves (polled or read from its output). */
  ready(output: () => string, child: ChildProcess): Promise<void>;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  output: string;
  /** The process was killed on purpose (or stopped): its exit is not a failure. */
  expectedExit: boolean;
  ready: boolean;
}

/**
 * The real API and worker processes of the chaos test: started, SIGKILLed at random moments and
 * started again. A process that dies without being killed is a failure the test reports.
 */
export class Fleet {
  private readonly running = new Map<string, Running>();
  private readonly members = new Map<string, FleetMember>();
  private readonly restarts = new Map<string, Promise<void>>();
  readonly kills: { name: string; at: number }[] = [];
  readonly unexpectedExits: string[] = [];

  add(member: FleetMember): void {
    this.members.set(member.name, member);
  }

  names(): string[] {
    return [...this.members.keys()];
  }

  isUp(name: string): boolean {
    const r = this.running.get(name);
    return Boolean(r && r.child.exitCode === null && r.child.signalCode === null);
  }

  async start(name: string): Promise<void> {
    const member = this.members.get(name);
    if (!member) throw new Error(`no fleet member ${name}`);
    if (this.isUp(name)) return;
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, member.entry)], {
      cwd: root,
      env: { ...process.env, ...member.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const state: Running = { child, output: '', expectedExit: false, ready: false, exited: Promise.resolve() };
    const onData = (chunk: Buffer) => {
      state.output = (state.output + chunk.toString()).slice(-OUTPUT_TAIL);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    state.exited = new Promise((res) =>
      child.once('exit', (code, signal) => {
        if (!state.expectedExit) this.unexpectedExits.push(`${name} exited (${code ?? signal}):\n${state.output.slice(-4000)}`);
        res();
      }),
    );
    this.running.set(name, state);
    const failed = state.exited.then(() => {
      throw new Error(`${name} exited before it was ready:\n${state.output.slice(-4000)}`);
    });
    await Promise.race([member.ready(() => state.output, child), failed]);
    failed.catch(() => undefined);
    state.ready = true;
  }

  /** Up and past its readiness check: where a load balancer would send requests. */
  isServing(name: string): boolean {
    return this.isUp(name) && this.running.get(name)!.ready;
  }

  /** SIGKILL (no drain, no goodbye), then a new process. Concurrent calls for one member share the restart. */
  killAndRestart(name: string): Promise<void> {
    const ongoing = this.restarts.get(name);
    if (ongoing) return ongoing;
    const restart = (async () => {
      const r = this.running.get(name);
      if (r && this.isUp(name)) {
        r.expectedExit = true;
        this.kills.push({ name, at: Date.now() });
        r.child.kill('SIGKILL');
        await r.exited;
      }
      await this.start(name);
    })().finally(() => this.restarts.delete(name));
    this.restarts.set(name, restart);
    return restart;
  }

  /** Waits for restarts under way, then starts whatever is down. */
  async ensureAllUp(): Promise<void> {
    await Promise.all([...this.restarts.values()]);
    for (const name of this.names()) await this.start(name);
  }

  output(name: string): string {
    return this.running.get(name)?.output ?? '';
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.restarts.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(
      [...this.running.entries()].map(async ([name, r]) => {
        r.expectedExit = true;
        if (!this.isUp(name)) return;
        r.child.kill('SIGTERM');
        const timer = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
        await r.exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** Polls until `check` resolves true, or fails after `timeoutMs`. */
export async function pollUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms${lastError ? ` (${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Ready when GET /v1/healthz answers 200. */
export function healthz(baseUrl: string): FleetMember['ready'] {
  return () =>
    pollUntil(
      `${baseUrl} healthz`,
      async () => (await fetch(`${baseUrl}/v1/healthz`, { signal: AbortSignal.timeout(1_000) })).status === 200,
      60_000,
      50,
    );
}

/** Ready when the output has a line matching `pattern`. */
export function outputLine(pattern: RegExp): FleetMember['ready'] {
  return (output) => pollUntil(`output ${pattern}`, () => pattern.test(output()), 90_000, 50);
}
