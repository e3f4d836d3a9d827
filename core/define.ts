import type {
  ExtractFn,
  LoadFn,
  PipelineDefinition,
  PipelineInput,
  PostgresQueryStep,
  TransformFn,
} from './pipeline-spec';
import { PIPELINE_MARK } from './pipeline-spec';

/**
 * Declares a pipeline. Validation happens when the catalog loads the file, so every mistake is reported with its
 * file, pipeline and field by `pipectl validate`.
 */
export function definePipeline(spec: PipelineInput): PipelineDefinition {
  return Object.freeze({ ...spec, [PIPELINE_MARK]: true as const });
}

/** Options of a PostgreSQL query extract. */
export interface QueryOptions {
  /** Named connection (see `PIPECTL_CONNECTION_<NAME>`). */
  connection: string;
  /** SQL; `$windowStart`, `$windowEnd` and `$<param>` are bound as parameters. */
  sql: string;
  /** Values of extra `$<param>` placeholders. */
  params?: Record<string, string | number | boolean | null>;
  /** Rows per round trip (default 10,000). */
  batchSize?: number;
}

/** Options of a PostgreSQL load. */
export interface TableOptions {
  connection: string;
  /** `schema.table` or `table`; must exist. */
  table: string;
  /** Columns to write; defaults to the first row's keys. */
  columns?: string[];
}

/** Built-in PostgreSQL steps. */
export const postgres = {
  /** Extract the rows of a query, with the window bound as `$windowStart` / `$windowEnd`. */
  query(options: QueryOptions): PostgresQueryStep {
    return { kind: 'postgres.query', params: {}, batchSize: 10_000, ...options };
  },
  /** Load by inserting or updating on `key` in one transaction. Rerunning a window updates the same rows. */
  upsert(options: TableOptions & { key: string[] }) {
    return { kind: 'postgres.load' as const, mode: 'upsert' as const, ...options };
  },
  /** Load by deleting the window's rows (`windowColumn` in `[start, end)`) and inserting the new ones, atomically. */
  replace(options: TableOptions & { windowColumn: string }) {
    return { kind: 'postgres.load' as const, mode: 'replace' as const, ...options };
  },
};

function fileSteps(format: 'csv' | 'ndjson') {
  return {
    /** Read a file; `{start}`, `{end}`, `{startDate}`, `{endDate}` in the path become the window's. */
    read(path: string, options: { delimiter?: string } = {}) {
      return { kind: 'file.read' as const, format, path, ...options };
    },
    /** Write the rows to a file for the window, atomically. */
    write(path: string, options: { delimiter?: string; columns?: string[] } = {}) {
      return { kind: 'file.write' as const, format, path, ...options };
    },
  };
}

/** Built-in CSV file steps (header row, RFC 4180 quoting). */
export const csv = fileSteps('csv');
/** Built-in newline-delimited JSON file steps. */
export const ndjson = fileSteps('ndjson');

export type { ExtractFn, LoadFn, TransformFn };
