import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagedProcess } from './child-process';

/**
 * Keeps the dev stack's children running: a child that dies is started again after a growing
 * delay, and one that keeps dying stops the whole stack with a message that names it (a crash
 * loop hidden behind restarts helps nobody). Stopping goes newest first, so the API and the
 * worker drain before the servers they use go away.
 */
export interface RestartPolicy {
  /** Restarts allowed inside `windowMs`; one more death than that gives up. */
  maxRestarts: number;
  windowMs: number;
  /** The first restart waits this long; each further one inside the window twice as long. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 5, windowMs: 60_000, baseDelayMs: 500, maxDelayMs: 8_000 };

interface Child {
  name: string;
  start: () => Promise<ManagedProcess>;
  current?: ManagedProcess;
  /** Instants of the restarts inside the policy's window. */
  restarts: number[];
  pendingRestart?: NodeJS.Timeout;
  starting?: Promise<unknown>;
}

export class Supervisor {
  private readonly children: Child[] = [];
  private stopping = false;

  constructor(
    private readonly options: {
      policy?: RestartPolicy;
      /** Where `<name>.pid` files are kept while each child runs (tests and humans read them). */
      pidDir: string;
      log: (line: string) => void;
      /** Called once when a child keeps dying; expected to stop everything. */
      giveUp: (why: string) => void;
    },
  ) {
    mkdirSync(options.pidDir, { recursive: true });
  }

  private get policy(): RestartPolicy {
    return this.options.policy ?? DEFAULT_RESTART_POLICY;
  }

  /** Starts a child (failing if its first start fails) and keeps it running from then on. */
  async add(name: string, start: () => Promise<ManagedProcess>): Promise<ManagedProcess> {
    const child: Child = { name, start, restarts: [] };
    this.children.push(child);
    const proc = await start();
    this.adopt(child, proc);
    return proc;
  }

  private adopt(child: Child, proc: ManagedProcess): void {
    child.current = proc;
    writeFileSync(this.pidFile(child.name), `${proc.child.pid}\n`);
    void proc.exited.then((how) => {
      if (this.stopping || child.current !== proc) return;
      this.onDeath(child, how);
    });
  }

  private onDeath(child: Child, how: number | string): void {
    const now = Date.now();
    child.restarts = child.restarts.filter((t) => now - t < this.policy.windowMs);
    if (child.restarts.length >= this.policy.maxRestarts) {
      this.options.giveUp(
        `${child.name} exited (${how}) after ${child.restarts.length} restarts within ${this.policy.windowMs / 1000} s; giving up`,
      );
      return;
    }
    const delay = Math.min(this.policy.baseDelayMs * 2 ** child.restarts.length, this.policy.maxDelayMs);
    child.restarts.push(now);
    this.options.log(
      `[stack] ${child.name} exited (${how}); restarting in ${delay} ms (restart ${child.restarts.length} of ${this.policy.maxRestarts} allowed within ${this.policy.windowMs / 1000} s)`,
    );
    child.pendingRestart = setTimeout(() => {
      child.pendingRestart = undefined;
      if (this.stopping) return;
      const starting = child.start().then(
        (proc) => {
          if (this.stopping) return proc.stop();
          this.adopt(child, proc);
          this.options.log(`[stack] ${child.name} restarted (pid ${proc.child.pid})`);
        },
        // A start that fails (a port still held, say) counts as one more death.
        (err: unknown) => {
          if (!this.stopping) this.onDeath(child, `failed to start: ${(err as Error).message}`);
        },
      );
      child.starting = starting.finally(() => {
        if (child.starting === starting) child.starting = undefined;
      });
    }, delay);
  }

  /** Stops every child, newest first; none is restarted from now on. */
  async stopAll(onStopped: (name: string) => void): Promise<void> {
    this.stopping = true;
    for (const child of [...this.children].reverse()) {
      clearTimeout(child.pendingRestart);
      await child.starting;
      await child.current?.stop();
      rmSync(this.pidFile(child.name), { force: true });
      onStopped(child.name);
    }
  }

  private pidFile(name: string): string {
    return join(this.options.pidDir, `${name}.pid`);
  }
}
