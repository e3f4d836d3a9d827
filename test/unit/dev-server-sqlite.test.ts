import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from 'node-sqlite3-wasm';
import {
  DROPPED_VISIBILITY_INDEXES,
  trimVisibilityIndexes,
  visibilityIndexes,
} from '../../temporal-config/dev-server-sqlite';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipectl-sqlite-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A visibility table shaped like the dev server's, with a few of its indexes, in write-ahead-log mode. */
function visibilityDb(file: string): void {
  const db = new Database(file);
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`CREATE TABLE executions_visibility (namespace_id TEXT, run_id TEXT, workflow_id TEXT, task_queue TEXT,
      history_length INT, Keyword01 TEXT, Keyword07 TEXT, PRIMARY KEY (namespace_id, run_id))`);
    for (const [name, column] of [
      ['by_workflow_id', 'workflow_id'],
      ['by_task_queue', 'task_queue'],
      ['by_history_length', 'history_length'],
      ['by_keyword_01', 'Keyword01'],
      ['by_keyword_07', 'Keyword07'],
    ]) {
      db.exec(`CREATE INDEX ${name} ON executions_visibility (namespace_id, ${column})`);
    }
    db.exec("INSERT INTO executions_visibility VALUES ('ns', 'r1', 'w1', 'q', 3, 'k', NULL)");
  } finally {
    db.close();
  }
}

test('drops the listed visibility indexes only, keeps the rows, and does nothing the second time', () => {
  const file = join(dir, 'temporal.sqlite');
  visibilityDb(file);
  expect(trimVisibilityIndexes(file).sort()).toEqual(['by_history_length', 'by_keyword_07', 'by_task_queue']);
  expect(visibilityIndexes(file)).toEqual([
    'by_keyword_01',
    'by_workflow_id',
    'sqlite_autoindex_executions_visibility_1',
  ]);
  expect(trimVisibilityIndexes(file)).toEqual([]);
  const db = new Database(file, { fileMustExist: true });
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    expect(db.all("SELECT workflow_id FROM executions_visibility WHERE task_queue = 'q'")).toEqual([
      { workflow_id: 'w1' },
    ]);
  } finally {
    db.close();
  }
});

test('every dropped index names a column the dev server adds, none that lists and Schedules filter on', () => {
  expect(DROPPED_VISIBILITY_INDEXES).not.toEqual(
    expect.arrayContaining([expect.stringMatching(/^(default_idx|by_workflow_(id|type)|by_status)$/)]),
  );
  expect(DROPPED_VISIBILITY_INDEXES).not.toContain('by_temporal_scheduled_by_id');
  expect(DROPPED_VISIBILITY_INDEXES).not.toContain('by_temporal_namespace_division');
  for (const n of ['01', '02', '03', '04']) expect(DROPPED_VISIBILITY_INDEXES).not.toContain(`by_keyword_${n}`);
  expect(new Set(DROPPED_VISIBILITY_INDEXES).size).toBe(DROPPED_VISIBILITY_INDEXES.length);
});

test('a file held by another process is left whole, with an error that says it is busy', () => {
  const file = join(dir, 'temporal.sqlite');
  visibilityDb(file);
  mkdirSync(`${file}.lock`);
  expect(() => trimVisibilityIndexes(file)).toThrow(/lock|busy/i);
  rmSync(`${file}.lock`, { recursive: true });
  expect(visibilityIndexes(file)).toContain('by_task_queue');
});

test('a missing file is an error, not a new database', () => {
  expect(() => trimVisibilityIndexes(join(dir, 'nothing.sqlite'))).toThrow();
});
