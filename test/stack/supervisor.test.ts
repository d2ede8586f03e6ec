import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../../scripts/stack/child-process';
import { Supervisor, type RestartPolicy } from '../../scripts/stack/supervisor';

/**
 * The dev stack's supervisor on real child processes: a child that dies is started again (and
 * its pid file follows), and one that keeps dying stops everything with a message naming it.
 */
const pidDir = mkdtempSync('/tmp/aura-supervisor-test-');
afterAll(() => rmSync(pidDir, { recursive: true, force: true }));

// Short delays keep the test quick; the limit logic is the production one.
const policy: RestartPolicy = { maxRestarts: 3, windowMs: 60_000, baseDelayMs: 20, maxDelayMs: 100 };

function harness() {
  const lines: string[] = [];
  let gaveUp: (why: string) => void = () => undefined;
  const givenUp = new Promise<string>((resolve) => (gaveUp = resolve));
  const supervisor = new Supervisor({ policy, pidDir, log: (l) => lines.push(l), giveUp: (why) => gaveUp(why) });
  return { supervisor, lines, givenUp };
}

/** A node process that runs until killed, or exits at once with `exitCode`. */
function node(name: string, exitCode?: number): Promise<ManagedProcess> {
  const script = exitCode === undefined ? 'setInterval(() => {}, 1000)' : `process.exit(${exitCode})`;
  return Promise.resolve(startProcess(name, process.execPath, ['-e', script], { output: { file: '/dev/null' } }));
}

const pidFile = (name: string) => join(pidDir, `${name}.pid`);

it('restarts a child that is killed, and keeps its pid file current', async () => {
  const { supervisor, lines } = harness();
  const first = await supervisor.add('api', () => node('api'));
  expect(Number(readFileSync(pidFile('api'), 'utf8'))).toBe(first.child.pid);

  const restarted = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (lines.some((l) => l.startsWith('[stack] api restarted'))) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  first.child.kill('SIGKILL');
  await restarted;
  const pid = Number(readFileSync(pidFile('api'), 'utf8'));
  expect(pid).not.toBe(first.child.pid);
  expect(() => process.kill(pid, 0)).not.toThrow(); // the new one runs
  expect(lines[0]).toMatch(/^\[stack\] api exited \(SIGKILL\); restarting in 20 ms \(restart 1 of 3 allowed within 60 s\)$/);

  const stopped: string[] = [];
  await supervisor.stopAll((name) => stopped.push(name));
  expect(stopped).toEqual(['api']);
  expect(existsSync(pidFile('api'))).toBe(false);
  expect(() => process.kill(pid, 0)).toThrow(); // and is stopped with the rest
});

it('gives up on a child that keeps dying, naming it and its last exit', async () => {
  const { supervisor, lines, givenUp } = harness();
  let starts = 0;
  await supervisor.add('worker', () => {
    starts++;
    return node('worker', 3);
  });
  expect(await givenUp).toBe('worker exited (3) after 3 restarts within 60 s; giving up');
  expect(starts).toBe(4); // the first start and three restarts
  expect(lines.flatMap((l) => /restarting in (\d+) ms/.exec(l)?.[1] ?? [])).toEqual(['20', '40', '80']); // backing off
  await supervisor.stopAll(() => undefined);
});
