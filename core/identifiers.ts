/**
 * Names that end up in SQL, workflow IDs and search attributes. Everything here is validated before use and
 * quoted when it reaches SQL, so a definition can never inject SQL through a table or column name.
 */

/** A pipeline name: lower-case letters, digits, `_` and `-`, starting with a letter; at most 100 characters. */
export const PIPELINE_NAME = /^[a-z][a-z0-9_-]{0,99}$/;

/** One SQL identifier part: a letter or `_`, then letters, digits, `_` or `$`; at most 63 characters (PostgreSQL's limit). */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** A table reference: `table` or `schema.table`. */
export const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$/;

/** A dataset name: dotted identifiers such as `raw.orders` or `analytics.orders_daily`, or a file-like `files/orders.csv`. */
export const DATASET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,199}$/;

/** A connection name: letters, digits and `_`, starting with a letter (it becomes part of an environment variable). */
export const CONNECTION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Quotes one validated identifier part for PostgreSQL. Throws on anything that is not a plain identifier. */
export function quoteIdentifier(name: string): string {
  if (!SQL_IDENTIFIER.test(name)) throw new Error(`invalid SQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** Quotes a validated `schema.table` or `table` reference for PostgreSQL. */
export function quoteTable(name: string): string {
  if (!TABLE_NAME.test(name)) throw new Error(`invalid table name ${JSON.stringify(name)}`);
  return name.split('.').map(quoteIdentifier).join('.');
}

/** The environment variable that holds a named connection's URL: `warehouse` → `PIPECTL_CONNECTION_WAREHOUSE`. */
export function connectionEnvVar(name: string): string {
  return `PIPECTL_CONNECTION_${name.toUpperCase()}`;
}
