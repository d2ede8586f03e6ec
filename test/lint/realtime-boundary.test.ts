import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The realtime edge reaches PostgreSQL and the rooms' live state only through services/, as the
 * API does (eslint.config.mjs). This proves the rule fires on a value import from db/ in
 * realtime/, allows a type import, and leaves services/ alone.
 */
const root = resolve(__dirname, '../..');
const eslintBin = resolve(root, 'node_modules/eslint/bin/eslint.js');

const probes = {
  realtimeValues: {
    folder: 'realtime',
    code: [
      "import { RoomLiveState } from '../db/live/room-live-state';",
      "import { RoomDirectory } from '../db/repositories/rooms';",
      "import { createDataSource } from '../db/data-source';",
      'export const used: unknown[] = [RoomLiveState, RoomDirectory, createDataSource];',
    ].join('\n'),
  },
  realtimeTypes: {
    folder: 'realtime',
    code: "import type { RoomSnapshot } from '../db/live/room-live-state';\nexport type Used = RoomSnapshot;\n",
  },
  realtimeServices: {
    folder: 'realtime',
    code: "import { RoomConnections } from '../services/rooms';\nexport const used = RoomConnections;\n",
  },
  servicesValues: {
    folder: 'services/rooms',
    code: "import { RoomLiveState } from '../../db/live/room-live-state';\nexport const used = RoomLiveState;\n",
  },
};
type Probe = keyof typeof probes;

let findings: Record<Probe, string[]>;

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

it('refuses value imports from db/ (live state, repositories, the data source) in the realtime edge', () => {
  expect(findings.realtimeValues).toEqual([1, 2, 3].map((line) => `${line}:@typescript-eslint/no-restricted-imports`));
});

it('allows type imports from db/ and value imports from services/ in the realtime edge', () => {
  expect(findings.realtimeTypes).toEqual([]);
  expect(findings.realtimeServices).toEqual([]);
});

it('leaves services/ free to use the stores', () => {
  expect(findings.servicesValues).toEqual([]);
});
