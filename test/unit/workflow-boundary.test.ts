import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

interface LintMessage {
  ruleId: string | null;
  line: number;
  message: string;
}

/** Lints `code` with the project's ESLint config as if it were a file in workflows/ (ESLint runs as users run it). */
async function lintAsWorkflow(code: string): Promise<LintMessage[]> {
  const res = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'),
      '--stdin',
      '--stdin-filename',
      'workflows/run-pipeline.ts',
      '--format',
      'json',
    ],
    { cwd: ROOT, input: code, encoding: 'utf8' },
  );
  const [result] = JSON.parse(res.stdout) as { messages: LintMessage[] }[];
  return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports');
}

test('the lint rule keeps Node built-ins, pg and the Temporal client/worker/activity packages out of workflows/', async () => {
  const messages = await lintAsWorkflow(
    [
      "import { readFileSync } from 'node:fs';",
      "import { createHash } from 'crypto';",
      "import { Pool } from 'pg';",
      "import { Connection } from '@temporalio/client';",
      "import { Worker } from '@temporalio/worker';",
      "import { Context } from '@temporalio/activity';",
      "import { createActivities } from '../activities';",
      'export const used = [readFileSync, createHash, Pool, Connection, Worker, Context, createActivities];',
    ].join('\n'),
  );
  expect(messages.map((m) => m.line)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(messages[0]!.message).toContain("workflow code runs in Temporal's deterministic sandbox");
  expect(messages[0]!.message).toContain('do the work in an activity');
});

test('type-only imports of activities and clients stay allowed in workflows/', async () => {
  const messages = await lintAsWorkflow(
    [
      "import type { Activities } from '../activities';",
      "import type { Client } from '@temporalio/client';",
      "import { proxyActivities } from '@temporalio/workflow';",
      'export const p = proxyActivities<Activities>({ startToCloseTimeout: 1000 });',
      'export type C = Client;',
    ].join('\n'),
  );
  expect(messages).toEqual([]);
});
