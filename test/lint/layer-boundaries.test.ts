import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The import boundaries between layers are lint rules (`npm test` runs ESLint with
 * --max-warnings 0). Each probe is a file written into a layer's folder with imports it may
 * and may not make; the test proves exactly the forbidden ones are refused.
 */
const root = resolve(__dirname, '../..');
const eslintBin = resolve(root, 'node_modules/eslint/bin/eslint.js');

/** One import per line: `true` when the layer must refuse it. Names are made up; only the path matters. */
type Probe = { folder: string; imports: [line: string, refused: boolean][] };
const probes: Record<string, Probe> = {
  domain: {
    folder: 'domain/rooms',
    imports: [
      ["import { DateTime } from 'luxon';", false],
      ["import { z } from 'zod';", false],
      ["import { maskPhone } from '../otp/rules';", false],
      ["import { randomInt } from 'node:crypto';", true],
      ["import { Redis } from 'ioredis';", true],
      ["import { defineSearchAttributeKey } from '@temporalio/common';", true],
      ["import type { Config } from '../../config';", true], // not even types: the domain is the bottom
      ["import { Ledger } from '../../db/repositories/ledger';", true],
      ["import { RoomService } from '../../services/rooms/room-service';", true],
    ],
  },
  workflows: {
    folder: 'workflows/daily-reward',
    imports: [
      ["import { proxyActivities } from '@temporalio/workflow';", false],
      ["import { decideSend } from '../../domain/otp/rules';", false],
      ["import type { OtpActivities } from '../../activities/otp';", false],
      ["import { createActivities } from '../../activities';", true],
      ["import { Client } from '@temporalio/client';", true],
      ["import { readFileSync } from 'fs';", true],
      ["import { DataSource } from 'typeorm';", true],
      ["import { loadConfig } from '../../config';", true],
      ["import { Ledger } from '../../db/repositories/ledger';", true],
      ["import { createLogger } from '../../platform/logging';", true],
    ],
  },
  activities: {
    folder: 'activities/daily-reward',
    imports: [
      ["import { Redis } from 'ioredis';", false],
      ["import { Ledger } from '../../db/repositories/ledger';", false],
      ["import { createLogger } from '../../platform/logging';", false],
      ["import { createApiApp } from '../../api/app';", true],
      ["import { createRealtimeEdge } from '../../realtime/edge';", true],
    ],
  },
  services: {
    folder: 'services/rooms',
    imports: [
      ["import { RoomLiveState } from '../../db/live/room-live-state';", false],
      ["import { RoomDirectory } from '../../db/repositories/rooms';", false],
      ["import { otpUpdate } from '../../workflows/otp/definitions';", false], // services start and signal flows
      ["import { errorBody } from '../../api/http/errors';", true],
      ["import { createRealtimeEdge } from '../../realtime/edge';", true],
    ],
  },
  db: {
    folder: 'db/repositories',
    imports: [
      ["import { DataSource } from 'typeorm';", false],
      ["import { hashRoomPassword } from '../../platform/crypto/room-passwords';", false],
      ["import { AppError } from '../../domain/errors';", false],
      ["import { errorBody } from '../../api/http/errors';", true],
      ["import { createRealtimeEdge } from '../../realtime/edge';", true],
      ["import { createRoomService } from '../../services/rooms';", true],
      ["import { createActivities } from '../../activities';", true],
      ["import { dailyRewardWorkflow } from '../../workflows/daily-reward/workflow';", true],
    ],
  },
  platform: {
    folder: 'platform/auth',
    imports: [
      ["import { loadConfig } from '../../config';", false],
      ["import { AppError } from '../../domain/errors';", false],
      ["import { errorBody } from '../../api/http/errors';", true],
      ["import { createRealtimeEdge } from '../../realtime/edge';", true],
      ["import { createRoomService } from '../../services/rooms';", true],
      ["import { Ledger } from '../../db/repositories/ledger';", true],
    ],
  },
  api: {
    folder: 'api/rooms',
    imports: [
      ["import { createRoomService } from '../../services/rooms';", false],
      ["import { UserDirectory } from '../../db/repositories/users';", false],
      ["import { createRealtimeEdge } from '../../realtime/edge';", true],
      ["import { RoomLiveState } from '../../db/live/room-live-state';", true],
    ],
  },
  realtime: {
    folder: 'realtime',
    imports: [
      ["import { createRoomService } from '../services/rooms';", false],
      ["import { createLogger } from '../platform/logging';", false],
      ["import type { RoomSnapshot } from '../db/live/room-live-state';", false], // a store's shapes, not the store
      ["import { errorBody } from '../api/http/errors';", true],
      ["import { RoomLiveState } from '../db/live/room-live-state';", true],
      ["import { RoomDirectory } from '../db/repositories/rooms';", true],
      ["import { createDataSource } from '../db/data-source';", true],
    ],
  },
  config: {
    folder: 'config',
    imports: [
      ["import { z } from 'zod';", false],
      ["import { createDataSource } from '../db/data-source';", true],
    ],
  },
};

/** `import { A } from 'x'` → `A`; `import type { A } from 'x'` → `A` used as a type. */
function probeSource(p: Probe): string {
  const values: string[] = [];
  const types: string[] = [];
  for (const [line] of p.imports) {
    const name = /\{ (\w+) \}/.exec(line)![1]!;
    (line.startsWith('import type') ? types : values).push(name);
  }
  return [
    ...p.imports.map(([line]) => line),
    `export const used: unknown[] = [${values.join(', ')}];`,
    ...types.map((t, i) => `export type Used${i} = ${t};`),
    '',
  ].join('\n');
}

let findings: Record<string, { line: number; ruleId: string | null; message: string }[]>;

beforeAll(() => {
  const files = Object.fromEntries(Object.entries(probes).map(([name, p]) => [name, join(root, p.folder, `lint-probe-${name}-${process.pid}.ts`)]));
  try {
    for (const [name, file] of Object.entries(files)) writeFileSync(file, probeSource(probes[name]!));
    const run = spawnSync(process.execPath, [eslintBin, '--format', 'json', ...Object.values(files)], { cwd: root, encoding: 'utf8' });
    const results = JSON.parse(run.stdout) as { filePath: string; messages: { line: number; ruleId: string | null; message: string }[] }[];
    findings = Object.fromEntries(Object.entries(files).map(([name, file]) => [name, results.find((r) => r.filePath === file)?.messages ?? []]));
  } finally {
    for (const file of Object.values(files)) rmSync(file, { force: true });
  }
}, 180_000);

it.each(Object.keys(probes))('%s: refuses exactly the imports that cross its boundary', (name) => {
  const probe = probes[name]!;
  const refusedLines = probe.imports.flatMap(([, refused], i) => (refused ? [i + 1] : []));
  expect(findings[name]!.map((m) => `${m.line}:${m.ruleId}`)).toEqual(refusedLines.map((l) => `${l}:@typescript-eslint/no-restricted-imports`));
});

it('says which boundary an import crosses and why', () => {
  expect(findings.api!.find((m) => m.line === 4)?.message).toMatch(/api may not import db\/live: room live state goes through services/);
  expect(findings.domain!.find((m) => m.line === 5)?.message).toMatch(/Domain code imports only domain modules/);
});
