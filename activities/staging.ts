import type { Pool } from 'pg';
import { ensurePipectlTable } from './postgres/schema';
import type { Row } from '../core/pipeline-spec';
import type { StepData } from '../core/run-input';

/** Target size of one staged chunk; several chunks make one staged result. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Large step results live in PostgreSQL (`pipectl.staged_chunks`), so only a reference travels through Temporal's
 * history, whatever the data size. Each attempt stages under its own reference, so a retried or zombie attempt never
 * mixes its rows with another's.
 */
export class Staging {
  constructor(private readonly pool: () => Promise<Pool>) {}

  private async db(): Promise<Pool> {
    const pool = await this.pool();
    // Chunks are written once and read once or twice: storing them uncompressed saves PostgreSQL compressing and
    // decompressing every few megabytes of JSON (the rows compress at the source and target, not in transit).
    await ensurePipectlTable(
      pool,
      'staged_chunks',
      `CREATE TABLE IF NOT EXISTS pipectl.staged_chunks (
         ref text NOT NULL, seq integer NOT NULL, row_count integer NOT NULL, body text NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (ref, seq));
       ALTER TABLE pipectl.staged_chunks ALTER COLUMN body SET STORAGE EXTERNAL`,
    );
    return pool;
  }

  /** Starts writing a result: rows stay inline until they pass `inlineLimitBytes`, then go to staging. */
  writer(ref: string, inlineLimitBytes: number): StepDataWriter {
    return new StepDataWriter(this, ref, inlineLimitBytes);
  }

  /** Appends one chunk (a JSON array of rows). */
  async putChunk(ref: string, seq: number, rowCount: number, body: string): Promise<void> {
    const db = await this.db();
    await db.query(
      `INSERT INTO pipectl.staged_chunks (ref, seq, row_count, body) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ref, seq) DO UPDATE SET row_count = EXCLUDED.row_count, body = EXCLUDED.body`,
      [ref, seq, rowCount, body],
    );
  }

  /** Removes one reference's chunks (before an attempt writes it anew). */
  async clear(ref: string): Promise<void> {
    const db = await this.db();
    await db.query('DELETE FROM pipectl.staged_chunks WHERE ref = $1', [ref]);
  }

  /** Rows of a result, chunk by chunk, so a load can stream them; the next chunk is read while this one is used. */
  async *chunks(data: StepData): AsyncGenerator<Row[]> {
    if (data.kind === 'inline') {
      yield data.rows;
      return;
    }
    const db = await this.db();
    const read = (seq: number) => {
      const body = db
        .query<{ body: string }>('SELECT body FROM pipectl.staged_chunks WHERE ref = $1 AND seq = $2', [data.ref, seq])
        .then((res) => {
          const text = res.rows[0]?.body;
          if (text === undefined) throw new Error(`staged data ${data.ref} chunk ${seq} is missing`);
          return text;
        });
      // Awaited below; a read left behind when the consumer stops early must not count as unhandled.
      body.catch(() => undefined);
      return body;
    };
    let next = data.chunks > 0 ? read(0) : undefined;
    for (let seq = 0; next; seq++) {
      const body = await next;
      next = seq + 1 < data.chunks ? read(seq + 1) : undefined;
      yield JSON.parse(body) as Row[];
    }
  }

  /** Every row of a result in memory (transforms see the whole window). */
  async readAll(data: StepData): Promise<Row[]> {
    if (data.kind === 'inline') return data.rows;
    const rows: Row[] = [];
    for await (const chunk of this.chunks(data)) for (const r of chunk) rows.push(r);
    return rows;
  }

  /** Deletes every reference that starts with `prefix`; returns the number of chunks removed. */
  async drop(prefix: string): Promise<number> {
    const db = await this.db();
    const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
    const res = await db.query("DELETE FROM pipectl.staged_chunks WHERE ref LIKE $1 || '%'", [escaped]);
    return res.rowCount ?? 0;
  }
}

/** Collects a step's output; decides inline versus staged by size. */
export class StepDataWriter {
  /** The buffered rows, each serialised once: its size decides when to flush, and the chunk joins them. */
  private buffer: string[] = [];
  private bufferBytes = 0;
  private staged = false;
  private seq = 0;
  private rowCount = 0;
  private totalBytes = 0;
  /** The chunk being written while the next one fills (one write in flight). */
  private writing: Promise<void> | undefined;

  constructor(
    private readonly staging: Staging,
    private readonly ref: string,
    private readonly inlineLimitBytes: number,
  ) {}

  /** Adds rows; flushes chunks to staging once the result is too large to travel inline. */
  async push(rows: readonly Row[]): Promise<void> {
    for (const row of rows) {
      const json = JSON.stringify(row);
      const bytes = Buffer.byteLength(json) + 1;
      this.buffer.push(json);
      this.bufferBytes += bytes;
      this.totalBytes += bytes;
      this.rowCount++;
      if (this.staged ? this.bufferBytes >= CHUNK_BYTES : this.bufferBytes > this.inlineLimitBytes) {
        await this.flush();
      }
    }
  }

  private async flush(): Promise<void> {
    if (!this.staged) {
      this.staged = true;
      await this.staging.clear(this.ref);
    }
    await this.writing;
    if (this.buffer.length === 0) return;
    const body = `[${this.buffer.join(',')}]`;
    const write = this.staging.putChunk(this.ref, this.seq++, this.buffer.length, body);
    // Awaited by the next flush or by finish(); until then a failure must not count as unhandled.
    write.catch(() => undefined);
    this.writing = write;
    this.buffer = [];
    this.bufferBytes = 0;
  }

  /** Ends the output and returns what the next step receives. */
  async finish(): Promise<StepData> {
    if (!this.staged) {
      // Parsed back from JSON: the inline rows are exactly what a staged read would return (dates as ISO strings).
      return { kind: 'inline', rows: JSON.parse(`[${this.buffer.join(',')}]`) as Row[], rowCount: this.rowCount };
    }
    await this.flush();
    await this.writing;
    return { kind: 'staged', ref: this.ref, chunks: this.seq, rowCount: this.rowCount, bytes: this.totalBytes };
  }
}
