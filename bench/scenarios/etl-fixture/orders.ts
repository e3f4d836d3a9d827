/**
 * The ETL benchmark's data and work, shared by the pipectl pipeline and the hand-written COPY script so both do
 * exactly the same thing: a source table of orders generated in PostgreSQL, a per-row transform (money in integer
 * cents, VAT by country, a size band, a normalised note and its FNV-1a hash), and a target table per system.
 */
import type { Row } from '../../../core/pipeline-spec';

/** The source table, filled with `generate_series`. */
export const SOURCE_TABLE = 'bench_etl_source';
/** Target of the pipectl pipeline and of the COPY script: same definition, compared after the run. */
export const PIPECTL_TARGET = 'bench_etl_target_pipectl';
export const COPY_TARGET = 'bench_etl_target_copy';

/** The one window both systems process; every source row lies in it. */
export const WINDOW = { start: '2026-01-01T00:00:00.000Z', end: '2026-01-02T00:00:00.000Z' };

/** Columns read from the source, in order. */
export const SOURCE_COLUMNS = ['id', 'ts', 'customer_id', 'amount', 'qty', 'country', 'note'] as const;
/** Columns written to the target, in order. */
export const TARGET_COLUMNS = [
  'id',
  'ts',
  'customer_id',
  'gross',
  'vat',
  'net',
  'band',
  'note_norm',
  'note_hash',
] as const;

/**
 * SQL creating the source with `rows` orders (one per second of the day, wrapping) and both targets. Notes are
 * sometimes NULL and sometimes hold a tab or a backslash, so both sides must escape COPY text correctly.
 */
export function setupSql(rows: number): string[] {
  const target = (name: string) =>
    `CREATE TABLE ${name} (id bigint PRIMARY KEY, ts timestamptz NOT NULL, customer_id integer NOT NULL,
       gross numeric(14,2) NOT NULL, vat numeric(14,2) NOT NULL, net numeric(14,2) NOT NULL, band text NOT NULL,
       note_norm text, note_hash bigint);
     CREATE INDEX ON ${name} (ts)`;
  return [
    `DROP TABLE IF EXISTS ${SOURCE_TABLE}, ${PIPECTL_TARGET}, ${COPY_TARGET}`,
    `CREATE TABLE ${SOURCE_TABLE} (id bigint PRIMARY KEY, ts timestamptz NOT NULL, customer_id integer NOT NULL,
       amount numeric(12,2) NOT NULL, qty integer NOT NULL, country text NOT NULL, note text)`,
    `INSERT INTO ${SOURCE_TABLE}
       SELECT g,
              '${WINDOW.start}'::timestamptz + (g % 86400) * interval '1 second',
              (g * 7919) % 50000,
              ((g * 104729) % 100000) / 100.0,
              1 + g % 9,
              (ARRAY['FR','DE','US','JP','GB','IT','ES','NL'])[(1 + g % 8)::int],
              CASE WHEN g % 17 = 0 THEN NULL
                   WHEN g % 1000 = 1 THEN E'  Tab\\there, backslash \\\\ ' || g
                   ELSE '  Order ' || g || ' Note ' || md5(g::text) END
       FROM generate_series(1::bigint, ${rows}) AS g`,
    // Hint bits and statistics set now, so neither system pays for the first scan of fresh rows.
    `VACUUM ANALYZE ${SOURCE_TABLE}`,
    target(PIPECTL_TARGET),
    target(COPY_TARGET),
  ];
}

/** The pipeline's extract query: the window's orders. */
export const EXTRACT_SQL = `SELECT ${SOURCE_COLUMNS.join(', ')} FROM ${SOURCE_TABLE} WHERE ts >= $windowStart AND ts < $windowEnd`;

const VAT: Record<string, number> = { FR: 0.2, DE: 0.19, US: 0, JP: 0.1, GB: 0.2, IT: 0.22, ES: 0.21, NL: 0.21 };

/** 32-bit FNV-1a of a string's UTF-16 code units, unsigned. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const money = (cents: number) => (cents / 100).toFixed(2);

/**
 * One order transformed. Takes values as either system reads them (pipectl: numbers and ISO strings from node-pg and
 * JSON staging; the COPY script: COPY text), so each is read with `Number`/`String`; `ts` passes through unchanged
 * and PostgreSQL parses either spelling to the same instant.
 */
export function transformOrder(r: Row): Row {
  const cents = Math.round(Number(r.amount) * 100) * Number(r.qty);
  const vat = Math.round(cents * (VAT[String(r.country)] ?? 0));
  const note = r.note === null || r.note === undefined ? null : String(r.note).trim().toLowerCase();
  return {
    id: String(r.id),
    ts: String(r.ts),
    customer_id: Number(r.customer_id),
    gross: money(cents),
    vat: money(vat),
    net: money(cents - vat),
    band: cents < 10_000 ? 'small' : cents < 100_000 ? 'medium' : 'large',
    note_norm: note,
    note_hash: note === null ? null : fnv1a(note),
  };
}

/** SQL counting the rows in which the two targets differ (0 and 0 when they hold the same rows). */
export const COMPARE_SQL = `SELECT
  (SELECT count(*) FROM ${PIPECTL_TARGET}) AS pipectl_rows,
  (SELECT count(*) FROM ${COPY_TARGET}) AS copy_rows,
  (SELECT count(*) FROM (TABLE ${PIPECTL_TARGET} EXCEPT ALL TABLE ${COPY_TARGET}) AS d) AS only_pipectl,
  (SELECT count(*) FROM (TABLE ${COPY_TARGET} EXCEPT ALL TABLE ${PIPECTL_TARGET}) AS d) AS only_copy`;

/** SQL giving the pipectl target's row count and an order-free checksum of its rows, to compare two runs. */
export const CHECKSUM_SQL = `SELECT count(*) AS rows, sum(hashtext(t::text)::bigint) AS checksum FROM ${PIPECTL_TARGET} t`;
