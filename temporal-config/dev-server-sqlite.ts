import { Database } from 'node-sqlite3-wasm';

/**
 * Indexes of the dev server's visibility table (`executions_visibility`, what the Web UI and `pipectl status` list)
 * that pipectl drops from the SQLite files of the dev servers it starts.
 *
 * Temporal's SQLite schema indexes every column a list could filter on: 45 indexes, each led by the namespace and
 * ending in the close and start times. Every workflow that starts or closes rewrites its visibility row, and with it an
 * entry in each of them; in a 1 → 1,000 → 1 fan-out the visibility writes were a quarter of the dev server's CPU, and
 * they go through the same one SQLite connection as every history write. Without the indexes below the fan-out took
 * 19.7 s instead of 27.1 (raw Temporal) and 23.1 s instead of 27.7 (pipectl), two runs each.
 *
 * What stays indexed: the default order, the workflow ID, type and status, parents and roots (the Web UI's
 * relationships), the runs of a Schedule and the Schedules themselves, and the columns pipectl's search attributes are
 * stored in (four keywords and two date-times; the dev server gives the first ones to the attributes it is started
 * with). The dropped ones are the statistics columns, run IDs, pre-allocated columns no pipectl attribute uses and the
 * system attributes of features pipectl does not use. A list that filters on one of them still answers, by reading
 * the table instead of an index; at a local server's size that is milliseconds.
 *
 * The list names indexes rather than keeping all others, so an index a later Temporal release adds stays.
 */
export const DROPPED_VISIBILITY_INDEXES: readonly string[] = [
  'by_history_length',
  'by_history_size_bytes',
  'by_execution_duration',
  'by_state_transition_count',
  'by_task_queue',
  'by_parent_run_id',
  'by_root_run_id',
  'by_batcher_user',
  'by_temporal_scheduled_start_time',
  'by_temporal_schedule_paused',
  'by_temporal_pause_info',
  'by_temporal_worker_deployment_version',
  'by_temporal_workflow_versioning_behavior',
  'by_temporal_worker_deployment',
  'by_bool_01',
  'by_bool_02',
  'by_bool_03',
  'by_datetime_03',
  'by_double_01',
  'by_double_02',
  'by_double_03',
  'by_int_01',
  'by_int_02',
  'by_int_03',
  'by_keyword_05',
  'by_keyword_06',
  'by_keyword_07',
  'by_keyword_08',
  'by_keyword_09',
  'by_keyword_10',
];

/**
 * Drops {@link DROPPED_VISIBILITY_INDEXES} from a dev server's SQLite file, in one transaction; returns the names it
 * dropped (none when an earlier start already did). Only for a file no server has open: SQLite's own locks do not
 * reach between this process and the server, so the caller makes sure the server is stopped. A write-ahead log the
 * server left is applied first, as SQLite does on any open.
 */
export function trimVisibilityIndexes(dbFile: string): string[] {
  const db = openIdle(dbFile);
  try {
    const present = new Set(indexNames(db));
    const dropped = DROPPED_VISIBILITY_INDEXES.filter((name) => present.has(name));
    if (dropped.length === 0) return [];
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const name of dropped) db.exec(`DROP INDEX "${name}"`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    return dropped;
  } finally {
    db.close();
  }
}

/** The visibility table's index names in a dev server's SQLite file no server has open. */
export function visibilityIndexes(dbFile: string): string[] {
  const db = openIdle(dbFile);
  try {
    return indexNames(db);
  } finally {
    db.close();
  }
}

/** Opens an existing SQLite file that no other process uses. */
function openIdle(dbFile: string): Database {
  const db = new Database(dbFile, { fileMustExist: true });
  try {
    // The write-ahead log's shared-memory index needs locks this build does not have; exclusive mode keeps it in
    // this process's memory.
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function indexNames(db: Database): string[] {
  return db
    .all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' ORDER BY name")
    .map((row) => String(row.name));
}
