import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The lint rules that keep workflow code deterministic are part of the build (`npm test` runs
 * ESLint with --max-warnings 0). This proves they fire on what they must refuse.
 */
const root = resolve(__dirname, '../..');
const eslintBin = resolve(root, 'node_modules/eslint/bin/eslint.js');

const floatingPromise = 'async function credit(): Promise<void> {}\nexport function claim(): void {\n  credit();\n}\n';
const probes = {
  workflowImports: {
    folder: 'workflows/daily-reward',
    code: [
      "import { randomInt } from 'node:crypto';",
      "import { readFileSync } from 'fs';",
      "import { Redis } from 'ioredis';",
      "import { DataSource } from 'typeorm';",
      "import { Ledger } from '../../db/repositories/ledger';",
      "import type { DailyRewardActivities } from '../../activities/daily-reward';",
      'export const used: unknown[] = [randomInt, readFileSync, Redis, DataSource, Ledger];',
      'export type Used = DailyRewardActivities;',
    ].join('\n'),
  },
  domainImports: { folder: 'domain/daily-reward', code: "import { Client } from 'pg';\nexport const c = Client;\n" },
  apiFloating: { folder: 'api/daily-reward', code: floatingPromise },
  workflowFloating: { folder: 'workflows/daily-reward', code: floatingPromise },
  activityImports: { folder: 'activities/daily-reward', code: "import { Redis } from 'ioredis';\nexport const r = Redis;\n" },
};
type Probe = keyof typeof probes;

let findings: Record<Probe, string[]>;

/**
 * Writes each probe as a file in the folder whose rules it tests and lints them in one child
 * process (ESLint loads its config as ESM, which jest's module system can't).
 */
beforeAll(() => {
  const files = Object.fromEntries(
    Object.entries(probes).map(([name, p]) => [name, join(root, p.folder, `lint-probe-${name}-${process.pid}.ts`)]),
  ) as Record<Probe, string>;
  try {
    for (const [name, file] of Object.entries(files)) writeFileSync(file, probes[name as Probe].code);
    const run = spawnSync(process.execPath, [eslintBin, '--format', 'json', ...Object.values(files)], { cwd: root, encoding: 'utf8' });
    const results = JSON.parse(run.stdout) as { filePath: string; messages: { line: number; ruleId: string | null }[] }[];
    findings = Object.fromEntries(
      Object.entries(files).map(([name, file]) => [
        name,
        (results.find((r) => r.filePath === file)?.messages ?? []).map((m) => `${m.line}:${m.ruleId}`),
      ]),
    ) as Record<Probe, string[]>;
  } finally {
    for (const file of Object.values(files)) rmSync(file, { force: true });
  }
}, 120_000);

it('refuses Node built-ins, I/O libraries and I/O-layer values in workflow code, but allows types', () => {
  expect(findings.workflowImports).toEqual([1, 2, 3, 4, 5].map((line) => `${line}:@typescript-eslint/no-restricted-imports`));
});

it('applies the same purity rules to the shared domain rules', () => {
  expect(findings.domainImports).toEqual(['1:@typescript-eslint/no-restricted-imports']);
});

it('refuses floating promises everywhere', () => {
  expect(findings.apiFloating).toEqual(['3:@typescript-eslint/no-floating-promises']);
  expect(findings.workflowFloating).toEqual(['3:@typescript-eslint/no-floating-promises']);
});

it('allows I/O libraries outside workflow and domain code', () => {
  expect(findings.activityImports).toEqual([]);
});
