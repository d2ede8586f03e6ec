import { execFileSync } from 'node:child_process';

/** Something a benchmark started, stopped on the way out. */
export interface Cleanup {
  what: string;
  run: () => Promise<unknown> | unknown;
}

/** Most a single cleanup may take before the next one runs regardless. */
const CLEANUP_TIMEOUT_MS = 20_000;

/**
 * A benchmark run's log (`[bench:<name>   12.3s] …`) and its exit: everything pushed to
 * `cleanups` is stopped newest first, once, however the run ends (its last step, an error,
 * SIGINT or SIGTERM), each step given at most 20 s.
 */
export function benchRun(name: string) {
  const t0 = performance.now();
  const log = (message: string) => console.log(`[bench:${name} ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}`);
  const cleanups: Cleanup[] = [];
  let cleaningUp: Promise<void> | undefined;
  function cleanup(): Promise<void> {
    cleaningUp ??= (async () => {
      for (const { what, run } of cleanups.splice(0).reverse()) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(run),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no end after ${CLEANUP_TIMEOUT_MS / 1000} s`)), CLEANUP_TIMEOUT_MS))),
          ]);
        } catch (err) {
          console.error(`[bench:${name}] cleanup of ${what} failed: ${(err as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return cleaningUp;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n[bench:${name}] ${signal}: stopping everything`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return { log, cleanups, cleanup };
}

/** The checkout's short commit, for the results header ("unknown" outside git). */
export function commitOf(root: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
  } catch {
    return 'unknown';
  }
}
