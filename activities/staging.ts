import type { Pool } from 'pg';
import { createHash } from 'node:crypto';
import { withPipectlDdl } from './postgres/schema';
import type { Row } from '../core/pipeline-spec';
import type { StepData } from '../core/run-input';
import { copyBody, copyRows, CopyLineEncoder, parseBody, type CopyChunk } from './staged-chunk';

/** Target size of one staged chunk; several chunks make one staged result. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The workflow ID part of a staging reference, `<workflow ID>/<run ID>/<step>/<attempt>`: everything before its last
 * three parts (a workflow ID may hold slashes; the other three never do).
 */
export function stagedWorkflowOf(ref: string): string {
  const parts = ref.split('/');
  return parts.length > 3 ? parts.slice(0, -3).join('/') : ref;
}

/**
 * The table holding a workflow ID's staged chunks: `pipectl.staged_<md5 of the workflow ID>`, within PostgreSQL's
 * 63-character limit for any ID.
 */
export function stagedTableOf(workflowId: string): string {
  return `pipectl.staged_${createHash('md5').update(workflowId).digest('hex')}`;
}

/** The one shared table of earlier pipectl versions, still read and emptied so runs that staged there can finish. */
const LEGACY_TABLE = 'pipectl.staged_chunks';

/** PostgreSQL's `undefined_table`. */
const UNDEFINED_TABLE = '42P01';

/** The `seq` under which an attempt publishes its result, after its last chunk (chunks count from 0). */
const END_OF_OUTPUT = -1;

/**
 * A newer attempt of the step being followed started after the reader had given chunks of an older one: whatever was
 * written from them must be undone, and the output read again from the start.
 */
export class OutputRestarted extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`staged data ${from} was replaced by a newer attempt, ${to}`);
    this.name = 'OutputRestarted';
  }
}

/**
 * Large step results live in PostgreSQL, so only a reference travels through Temporal's history, whatever the data
 * size. Each attempt stages under its own reference, so a retried or zombie attempt never mixes its rows with
 * another's.
 *
 * Each workflow ID's chunks have a table of their own ({@link stagedTableOf}), so dropping a run's staged data is a
 * `DROP TABLE`, which returns its files to the system at once: deleting a 1,000,000-row run's 220 MB of chunks row by
 * row took about a second, most of it deleting each 2 KB piece PostgreSQL had cut the chunks into.
 */
export class Staging {
  constructor(private readonly pool: () => Promise<Pool>) {}

  /**
   * Creates the table of `ref`'s workflow ID when it is missing. Chunks are written once and read once or twice:
   * storing them uncompressed saves PostgreSQL compressing and decompressing every few megabytes (the rows compress at
   * the source and target, not in transit).
   */
  private async createTable(ref: string): Promise<void> {
    const table = stagedTableOf(stagedWorkflowOf(ref));
    const pool = await this.pool();
    await withPipectlDdl(pool, async (client) => {
      const found = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
      if (found.rows[0]?.t) return;
      await client.query(
        `CREATE TABLE ${table} (
           ref text NOT NULL, seq integer NOT NULL, row_count integer NOT NULL, body text NOT NULL,
           created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (ref, seq));
         ALTER TABLE ${table} ALTER COLUMN body SET STORAGE EXTERNAL`,
      );
    });
  }

  /** Starts writing a result: rows stay inline until they pass `inlineLimitBytes`, then go to staging. */
  writer(ref: string, inlineLimitBytes: number): StepDataWriter {
    return new StepDataWriter(this, ref, inlineLimitBytes);
  }

  /** Appends one chunk (a body written by `StepDataWriter`); creates the workflow ID's table when it is missing. */
  async putChunk(ref: string, seq: number, rowCount: number, body: string): Promise<void> {
    const db = await this.pool();
    const insert = () =>
      db.query(
        `INSERT INTO ${stagedTableOf(stagedWorkflowOf(ref))} (ref, seq, row_count, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (ref, seq) DO UPDATE SET row_count = EXCLUDED.row_count, body = EXCLUDED.body`,
        [ref, seq, rowCount, body],
      );
    try {
      await insert();
    } catch (err) {
      if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
      await this.createTable(ref);
      await insert();
    }
  }

  /** Removes one reference's chunks (before an attempt writes it anew). */
  async clear(ref: string): Promise<void> {
    const db = await this.pool();
    await db.query(`DELETE FROM ${stagedTableOf(stagedWorkflowOf(ref))} WHERE ref = $1`, [ref]).catch((err) => {
      if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
    });
  }

  /** One stored body of `table`, undefined when it (or the table) is not there. */
  private async find(table: string, ref: string, seq: number): Promise<string | undefined> {
    const db = await this.pool();
    return db
      .query<{ body: string }>(`SELECT body FROM ${table} WHERE ref = $1 AND seq = $2`, [ref, seq])
      .then((res) => res.rows[0]?.body)
      .catch((err: { code?: string }) => {
        if (err.code === UNDEFINED_TABLE) return undefined;
        throw err;
      });
  }

  /** One stored chunk's body; a chunk staged by an earlier pipectl version is read from the table it used. */
  private async body(ref: string, seq: number): Promise<string> {
    const text =
      (await this.find(stagedTableOf(stagedWorkflowOf(ref)), ref, seq)) ?? (await this.find(LEGACY_TABLE, ref, seq));
    if (text === undefined) throw new Error(`staged data ${ref} chunk ${seq} is missing`);
    return text;
  }

  /**
   * Marks the end of an attempt's output, for a step that reads it as it is written ({@link follow}): the result the
   * step returns, stored under the attempt's reference after every chunk has committed.
   */
  async publish(ref: string, data: StepData): Promise<void> {
    await this.putChunk(ref, END_OF_OUTPUT, data.rowCount, JSON.stringify(data));
  }

  /** The reference of the newest attempt that has stored anything under `prefix` (`<...>/<step>/`). */
  private async newestAttempt(prefix: string): Promise<string | undefined> {
    const db = await this.pool();
    const res = await db
      .query<{ ref: string }>(
        `SELECT DISTINCT ref FROM ${stagedTableOf(stagedWorkflowOf(`${prefix}0`))} WHERE starts_with(ref, $1)`,
        [prefix],
      )
      .catch((err: { code?: string }) => {
        if (err.code === UNDEFINED_TABLE) return { rows: [] };
        throw err;
      });
    let newest: { ref: string; attempt: number } | undefined;
    for (const { ref } of res.rows) {
      const attempt = Number(ref.slice(prefix.length));
      if (Number.isInteger(attempt) && (!newest || attempt > newest.attempt)) newest = { ref, attempt };
    }
    return newest?.ref;
  }

  /**
   * A step's output read while the step is still writing it: the chunks of its newest attempt under `prefix`
   * (`<workflow ID>/<run ID>/<step>/`), each as soon as it has committed, until the attempt publishes its end
   * ({@link publish}). Waits while nothing new has come (polling, from 10 up to 250 ms apart) and stops with the
   * signal's reason when it aborts.
   *
   * When a newer attempt starts (the step failed and Temporal retries it, or it timed out), the reader throws
   * {@link OutputRestarted} if it has already given chunks of the older one: whatever the reader wrote from them must
   * be undone, and a new reader starts over on the newer attempt. An attempt that finishes while a newer one runs is
   * not used.
   */
  async *follow(prefix: string, signal: AbortSignal): AsyncGenerator<CopyChunk | Row[]> {
    const table = stagedTableOf(stagedWorkflowOf(`${prefix}0`));
    let ref: string | undefined;
    let seq = 0;
    let pause = 0;
    /** The next chunk, read while the one before is used. */
    let next: Promise<string | undefined> | undefined;
    for (;;) {
      signal.throwIfAborted();
      ref ??= await this.newestAttempt(prefix);
      if (ref !== undefined) {
        const body = await (next ?? this.find(table, ref, seq));
        next = undefined;
        if (body !== undefined) {
          seq++;
          next = this.find(table, ref, seq);
          // Awaited on the next turn; one left behind when the consumer stops early must not count as unhandled.
          next.catch(() => undefined);
          pause = 0;
          yield parseBody(body);
          continue;
        }
        // No chunk `seq` yet: the attempt may have ended, or a newer one started.
        const [end, newest] = await Promise.all([this.find(table, ref, END_OF_OUTPUT), this.newestAttempt(prefix)]);
        if (newest !== ref) {
          if (seq > 0) throw new OutputRestarted(ref, newest!);
          ref = newest;
          continue;
        }
        if (end !== undefined) {
          const data = JSON.parse(end) as StepData;
          if (data.kind === 'staged' && data.ref === ref) {
            // Chunks commit before the end: one that was not there a moment ago is there now.
            if (seq < data.chunks) continue;
            return;
          }
          // The attempt's result is not its own chunks (it passed its input on, or fitted inline).
          if (seq > 0) throw new Error(`staged data ${ref} ended with a result that is not its chunks`);
          yield* this.stored(data);
          return;
        }
      }
      pause = Math.min(250, Math.max(10, pause * 2));
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /**
   * A result's chunks as stored: COPY chunks keep their text (a load can pass it on as it is), JSON chunks are rows;
   * the next chunk is read while this one is used.
   */
  async *stored(data: StepData): AsyncGenerator<CopyChunk | Row[]> {
    if (data.kind === 'inline') {
      yield data.rows;
      return;
    }
    const read = (seq: number) => {
      const body = this.body(data.ref, seq);
      // Awaited below; a read left behind when the consumer stops early must not count as unhandled.
      body.catch(() => undefined);
      return body;
    };
    let next = data.chunks > 0 ? read(0) : undefined;
    for (let seq = 0; next; seq++) {
      const body = await next;
      next = seq + 1 < data.chunks ? read(seq + 1) : undefined;
      yield parseBody(body);
    }
  }

  /** Rows of a result (or of chunks as stored), chunk by chunk, so a load can stream them. */
  async *chunks(data: StepData | AsyncIterable<CopyChunk | Row[]>): AsyncGenerator<Row[]> {
    const stored = Symbol.asyncIterator in data ? data : this.stored(data);
    for await (const chunk of stored) yield Array.isArray(chunk) ? chunk : copyRows(chunk);
  }

  /** Every row of a result (or of chunks as stored) in memory (transforms see the whole window). */
  async readAll(data: StepData | AsyncIterable<CopyChunk | Row[]>): Promise<Row[]> {
    if (!(Symbol.asyncIterator in data) && data.kind === 'inline') return data.rows;
    const rows: Row[] = [];
    for await (const chunk of this.chunks(data)) for (const r of chunk) rows.push(r);
    return rows;
  }

  /**
   * Drops every chunk a workflow ID staged, in all of its runs and attempts; returns the number of chunks removed.
   * Chunks an earlier pipectl version staged for it in its one shared table are deleted too.
   */
  async drop(workflowId: string): Promise<number> {
    const db = await this.pool();
    const table = stagedTableOf(workflowId);
    let dropped = 0;
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      try {
        // Chunks only: the ends attempts published for a load alongside them (seq -1) are not chunks.
        const res = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE seq >= 0`);
        dropped = res.rows[0]!.n;
        await client.query(`DROP TABLE ${table}`);
      } catch (err) {
        if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
        await client.query('ROLLBACK');
        await client.query('BEGIN');
      }
      const legacy = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [LEGACY_TABLE]);
      if (legacy.rows[0]?.t) {
        const escaped = workflowId.replace(/[\\%_]/g, (c) => `\\${c}`);
        const res = await client.query(`DELETE FROM ${LEGACY_TABLE} WHERE ref LIKE $1 || '/%'`, [escaped]);
        dropped += res.rowCount ?? 0;
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    return dropped;
  }
}

/**
 * Collects a step's output; decides inline versus staged by size. Rows are written as COPY lines while they share
 * their keys and the kind of each value, as JSON otherwise (see `staged-chunk.ts`); an extract's COPY output is
 * staged as it comes.
 */
export class StepDataWriter {
  /** Rows of the chunk being filled, as given, while the result may still travel inline. */
  private rows: Row[] = [];
  /** Their COPY lines, while `encoder` accepts every row of the chunk. */
  private lines: string[] = [];
  private encoder: CopyLineEncoder | undefined;
  /** Their JSON, once a row did not fit the COPY form. */
  private json: string[] | undefined;
  /** COPY chunks of an extract, waiting to be staged. */
  private copies: CopyChunk[] = [];
  /** Whether the result is written as rows or as an extract's COPY chunks (never both). */
  private form: 'rows' | 'copy' | undefined;
  /** Rows in the chunk being filled. */
  private chunkRows = 0;
  private pendingBytes = 0;
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
    for (const row of rows) if (this.add(row)) await this.flush();
  }

  /**
   * Adds one row; true when the chunk is full and `flush` must be awaited before the next row. Once the result is
   * staged, a row is kept only as its COPY line (or its JSON), so a step that adds rows as it makes them never holds
   * a chunk of row objects.
   */
  add(row: Row): boolean {
    if (this.form === 'copy') throw new Error('a step result is written either as rows or as COPY chunks');
    this.form = 'rows';
    let text: string | undefined;
    if (!this.json) {
      this.encoder ??= new CopyLineEncoder(row);
      text = this.encoder.line(row);
      if (text === undefined) this.json = this.jsonOfChunk();
      else this.lines.push(text);
    }
    if (this.json) {
      text = JSON.stringify(row);
      this.json.push(text);
    }
    if (!this.staged) this.rows.push(row);
    this.chunkRows++;
    // Exact bytes while the result may still travel inline; characters once it is staged (a chunk's size is a
    // target, not a limit).
    const bytes = (this.staged ? text!.length : Buffer.byteLength(text!)) + 1;
    this.pendingBytes += bytes;
    this.totalBytes += bytes;
    this.rowCount++;
    return this.staged ? this.pendingBytes >= CHUNK_BYTES : this.pendingBytes > this.inlineLimitBytes;
  }

  /**
   * The chunk so far as JSON, when a row does not fit the COPY form: from the rows while they are kept, else read
   * back from the COPY lines (which read back as exactly the JSON of the rows).
   */
  private jsonOfChunk(): string[] {
    if (!this.staged) return this.rows.map((r) => JSON.stringify(r));
    if (this.lines.length === 0) return [];
    const chunk = { columns: this.encoder!.columns(), text: `${this.lines.join('\n')}\n`, rowCount: this.lines.length };
    return copyRows(chunk).map((r) => JSON.stringify(r));
  }

  /** Adds a chunk of an extract's COPY output. */
  async pushCopy(chunk: CopyChunk): Promise<void> {
    if (this.form === 'rows') throw new Error('a step result is written either as rows or as COPY chunks');
    this.form = 'copy';
    if (chunk.rowCount === 0) return;
    const bytes = Buffer.byteLength(chunk.text);
    this.copies.push(chunk);
    this.pendingBytes += bytes;
    this.totalBytes += bytes;
    this.rowCount += chunk.rowCount;
    if (this.staged || this.pendingBytes > this.inlineLimitBytes) await this.flush();
  }

  /**
   * Adds a chunk of rows already written as COPY lines (by a transform thread). Once the result is staged, or this
   * chunk stages it, the chunk is staged as it is, as one chunk of its own; a chunk that still fits inline is read as
   * rows.
   */
  async pushEncoded(chunk: CopyChunk): Promise<void> {
    if (chunk.rowCount === 0) return;
    if (this.form === 'copy') throw new Error('a step result is written either as rows or as COPY chunks');
    const bytes = Buffer.byteLength(chunk.text);
    if (!this.staged && this.pendingBytes + bytes <= this.inlineLimitBytes) {
      for (const row of copyRows(chunk)) if (this.add(row)) await this.flush();
      return;
    }
    // Rows added before go first, as their own chunk (this also starts staging).
    if (!this.staged || this.chunkRows > 0) await this.flush();
    await this.writing;
    const write = this.staging.putChunk(this.ref, this.seq++, chunk.rowCount, copyBody(chunk));
    write.catch(() => undefined);
    this.writing = write;
    this.rowCount += chunk.rowCount;
    this.totalBytes += bytes;
  }

  private body(): string | undefined {
    if (this.copies.length > 0) {
      const { columns } = this.copies[0]!;
      const text = this.copies.map((c) => c.text).join('');
      const rowCount = this.copies.reduce((n, c) => n + c.rowCount, 0);
      return copyBody({ columns, text, rowCount });
    }
    if (this.chunkRows === 0) return undefined;
    if (this.json) return `[${this.json.join(',')}]`;
    return copyBody({
      columns: this.encoder!.columns(),
      text: `${this.lines.join('\n')}\n`,
      rowCount: this.lines.length,
    });
  }

  private reset(): void {
    this.rows = [];
    this.lines = [];
    this.encoder = undefined;
    this.json = undefined;
    this.copies = [];
    this.chunkRows = 0;
    this.pendingBytes = 0;
  }

  /** Writes the chunk being filled to staging (one write in flight: this waits for the one before). */
  async flush(): Promise<void> {
    if (!this.staged) {
      this.staged = true;
      await this.staging.clear(this.ref);
    }
    await this.writing;
    const rowCount = this.copies.length > 0 ? this.copies.reduce((n, c) => n + c.rowCount, 0) : this.chunkRows;
    const body = this.body();
    this.reset();
    if (body === undefined) return;
    const write = this.staging.putChunk(this.ref, this.seq++, rowCount, body);
    // Awaited by the next flush or by finish(); until then a failure must not count as unhandled.
    write.catch(() => undefined);
    this.writing = write;
  }

  /** Ends the output and returns what the next step receives. */
  async finish(): Promise<StepData> {
    if (!this.staged) {
      // Exactly what a staged read would return: COPY chunks read as staged ones are, rows through JSON (dates as
      // ISO strings).
      const rows =
        this.copies.length > 0
          ? this.copies.flatMap((c) => copyRows(c))
          : (JSON.parse(JSON.stringify(this.rows)) as Row[]);
      this.reset();
      return { kind: 'inline', rows, rowCount: this.rowCount };
    }
    await this.flush();
    await this.writing;
    return { kind: 'staged', ref: this.ref, chunks: this.seq, rowCount: this.rowCount, bytes: this.totalBytes };
  }
}
