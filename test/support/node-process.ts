import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(__dirname, '../..');

export interface ChildService {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a line of output matches, rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  stop(): Promise<void>;
}

/** Runs one of the project's entry points (api/main.ts, workers/main.ts, ...) as a real process. */
export function runEntryPoint(entry: string, env: NodeJS.ProcessEnv): ChildService {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, entry)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern) {
      return new Promise((resolveLine, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) {
            listeners.delete(check);
            resolveLine(match[0]);
          }
        };
        listeners.add(check);
        check();
        void exited.then(({ code, signal }) => {
          if (listeners.delete(check)) reject(new Error(`${entry} exited (${code ?? signal}) before ${pattern}:\n${output}`));
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
