import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions extends SpawnOptions {
  /** Where its output goes: a log file, or this process's stdout with a name prefix. */
  output: { file: string } | { prefix: string };
}

/** Every child this process has started and that has not exited yet. */
const live = new Set<ManagedProcess>();

/**
 * Stops whatever children are still running: the safety net for a stop that comes while a
 * service is still starting (its process exists before anyone holds on to it).
 */
export async function stopLiveChildren(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

/** Spawns a long-running child whose output is kept, and which stops politely, then firmly. */
export function startProcess(name: string, command: string, args: string[], options: StartOptions): ManagedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  if ('file' in options.output) {
    const log = createWriteStream(options.output.file, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  } else {
    const prefix = options.output.prefix;
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) process.stdout.write(`${prefix} ${line}\n`);
      });
    }
  }
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(`failed to start: ${err.message}`));
  });
  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    name,
    child,
    exited,
    stop(signal = 'SIGTERM', graceMs = 15_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  live.add(managed);
  void exited.then(() => live.delete(managed));
  return managed;
}

/** Polls `check` until it resolves, or fails with the last error after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<unknown>,
  timeoutMs: number,
  failed?: Promise<unknown>,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let exitedEarly: unknown;
  void failed?.then((v) => {
    exitedEarly = v;
  });
  for (;;) {
    if (exitedEarly !== undefined) throw new Error(`${what}: the process exited (${String(exitedEarly)}) before it was ready`);
    try {
      await check();
      return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not ready after ${timeoutMs} ms: ${(lastError as Error)?.message ?? lastError}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
