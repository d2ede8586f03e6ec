import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * What a benchmark orchestrator does with its own child processes (load generators, listeners):
 * fork them from TypeScript, ask them something over IPC and wait for the answer, and read the
 * CPU each process tree used from /proc. Shared by bench/gifts and bench/status.
 */

/** A TypeScript file run as a child (through tsx) with an IPC channel; `stop` ends it, firmly after 5 s. */
export function forkTs(file: string, options: { cwd: string; env: NodeJS.ProcessEnv }): { child: ChildProcess; stop: () => Promise<void> } {
  const child = fork(file, [], { cwd: options.cwd, env: options.env, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const firmly = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(firmly);
  };
  return { child, stop };
}

/** Sends a command and waits for the reply of the given type (one question at a time per child). */
export function ask<R extends { type: string }>(child: ChildProcess, command: object, replyType: string, timeoutMs: number): Promise<R> {
  return new Promise<R>((resolveReply, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${replyType} from child ${child.pid}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: R) => {
      if (message.type !== replyType) return;
      done();
      resolveReply(message);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`child ${child.pid} exited (${code}) while we waited for ${replyType}`));
    };
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(command);
  });
}

const CLK_TCK = 100;

function procTable(): Map<number, { ppid: number; ticks: number }> {
  const all = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      // utime + stime + cutime + cstime: a PostgreSQL backend that exited still counts.
      all.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // it exited while we looked
    }
  }
  return all;
}

/** CPU seconds of each named process tree, and of every process outside the benchmark. */
export function cpuSample(roots: Record<string, number[]>): Record<string, number> {
  const all = procTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const tree = (pid: number): number[] => [pid, ...(children.get(pid) ?? []).flatMap(tree)];
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(roots)) out[name] = pids.flatMap(tree).reduce((s, pid) => s + (all.get(pid)?.ticks ?? 0), 0) / CLK_TCK;
  const mine = new Set(tree(process.pid));
  let others = 0;
  for (const [pid, p] of all) if (!mine.has(pid) && p.ppid !== 2 && pid !== 2) others += p.ticks;
  out.others = others / CLK_TCK;
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  out.machineBusy = (total - (line[3] ?? 0) - (line[4] ?? 0)) / CLK_TCK;
  out.machineTotal = total / CLK_TCK;
  return out;
}

/** Cores used per process tree between two samples (machine = busy share of all cores). */
export function cpuBetween(a: Record<string, number>, b: Record<string, number>, seconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(a)) if (k !== 'machineBusy' && k !== 'machineTotal') out[k] = (b[k]! - a[k]!) / seconds;
  out.machine = (b.machineBusy! - a.machineBusy!) / (b.machineTotal! - a.machineTotal!);
  return out;
}
