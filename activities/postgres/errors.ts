import { ApplicationFailure } from '@temporalio/common';

/**
 * Stable error types of the built-in PostgreSQL steps. A permanent failure (bad SQL, missing table, data that does
 * not fit) is non-retryable: retrying cannot help. Connection loss, deadlocks and shutdowns stay retryable.
 */
export const PG_ERROR_TYPES = {
  /** The SQL is malformed or not allowed (SQLSTATE class 42). */
  invalidSql: 'InvalidSql',
  /** The table does not exist (42P01). */
  tableNotFound: 'TableNotFound',
  /** A column does not exist (42703). */
  columnNotFound: 'ColumnNotFound',
  /** A value does not fit its column (class 22). */
  invalidData: 'InvalidData',
  /** A constraint rejected the rows (class 23), or one batch holds the same key twice. */
  constraintViolation: 'ConstraintViolation',
  /** A `replace` load produced rows outside the run's window. */
  rowOutsideWindow: 'RowOutsideWindow',
} as const;

const EXACT: Record<string, string> = {
  '42P01': PG_ERROR_TYPES.tableNotFound,
  '42703': PG_ERROR_TYPES.columnNotFound,
  /** A write inside the read-only extract transaction. */
  '25006': PG_ERROR_TYPES.invalidSql,
};

const PERMANENT: Record<string, string> = {
  '42': PG_ERROR_TYPES.invalidSql,
  '22': PG_ERROR_TYPES.invalidData,
  '23': PG_ERROR_TYPES.constraintViolation,
  '21': PG_ERROR_TYPES.constraintViolation,
  '0A': PG_ERROR_TYPES.invalidSql,
};

/** Rethrows a PostgreSQL error as a non-retryable failure when retrying cannot fix it; otherwise as it is. */
export function classifyPgError(err: unknown, where: string): never {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.length === 5) {
    const type = EXACT[code] ?? PERMANENT[code.slice(0, 2)];
    if (type) {
      const e = err as Error & { detail?: string; hint?: string };
      const extra = [e.detail, e.hint].filter(Boolean).join(' ');
      throw ApplicationFailure.create({
        type,
        nonRetryable: true,
        message: `${where}: ${e.message}${extra ? ` (${extra})` : ''} [SQLSTATE ${code}]`,
        cause: e,
      });
    }
  }
  throw err;
}
