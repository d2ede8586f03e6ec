import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';

/** Recorded workflow histories, one JSON file per scenario (written by the time-skipping tests). */
export const HISTORIES_DIR = join(__dirname, 'histories');

type History = temporal.api.history.v1.IHistory;
const { History } = temporal.api.history.v1;

/** Readable JSON through protobufjs's own object form (longs and enums as strings, bytes as base64). */
export function historyToFile(history: History): string {
  return `${JSON.stringify(History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String }), null, 1)}\n`;
}

export function loadHistories(prefix: string): { workflowId: string; history: History }[] {
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: History.fromObject(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')) as Record<string, unknown>),
    }));
}
