import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { csv, definePipeline, ndjson } from '../../index';
import { windowPath, writeFileRows } from '../../activities/files';
import { FileWriteStep, type Row } from '../../core/pipeline-spec';
import type { StepData } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import {
  activityHarness,
  expectPermanent,
  failureOf,
  inline,
  stagedChunks,
  type ActivityHarness,
} from './activity-harness';

const window = parseWindow('2026-11-20');
const fixtures = resolve(__dirname, '../fixtures/files');
/** Written files go here; bad input files are written here by the tests that need them. */
const out = mkdtempSync(join(tmpdir(), 'pipectl-files-'));
const noExtract = () => [];
const noLoad = () => 0;

const pipelines = [
  definePipeline({ name: 'orders_csv', extract: csv.read(join(fixtures, 'orders-{startDate}.csv')), load: noLoad }),
  definePipeline({
    name: 'cities_csv',
    extract: csv.read(join(fixtures, 'cities-{startDate}.csv'), { delimiter: ';' }),
    load: noLoad,
  }),
  definePipeline({
    name: 'events_ndjson',
    extract: ndjson.read(join(fixtures, 'events-{startDate}.ndjson')),
    load: noLoad,
  }),
  definePipeline({ name: 'bad_ndjson', extract: ndjson.read('bad-{startDate}.ndjson'), load: noLoad }),
  definePipeline({ name: 'bad_csv', extract: csv.read('bad-{startDate}.csv'), load: noLoad }),
  definePipeline({ name: 'write_csv', extract: noExtract, load: csv.write('export/{startDate}/orders.csv') }),
  definePipeline({ name: 'read_written_csv', extract: csv.read('export/{startDate}/orders.csv'), load: noLoad }),
  definePipeline({ name: 'write_ndjson', extract: noExtract, load: ndjson.write('export/{start}_{end}.ndjson') }),
  definePipeline({ name: 'read_written_ndjson', extract: ndjson.read('export/{start}_{end}.ndjson'), load: noLoad }),
  definePipeline({
    name: 'write_csv_columns',
    extract: noExtract,
    load: csv.write('export/columns.csv', { columns: ['b', 'a'] }),
  }),
  definePipeline({ name: 'read_csv_columns', extract: csv.read('export/columns.csv'), load: noLoad }),
];

let h: ActivityHarness;

beforeAll(async () => {
  // Relative paths resolve against filesDir; the fixture pipelines use absolute paths, which it leaves alone.
  h = await activityHarness('files', pipelines, { filesDir: out });
});

afterAll(async () => {
  await h?.close();
  rmSync(out, { recursive: true, force: true });
});

function rowsOf(data: StepData): Row[] {
  if (data.kind !== 'inline') throw new Error(`expected inline data, got ${data.kind}`);
  return data.rows;
}

async function extract(pipeline: string, w = window): Promise<Row[]> {
  return rowsOf(await h.run(h.activities.extractRows, { pipeline, window: w }));
}

async function load(pipeline: string, data: StepData) {
  return h.run(h.activities.loadRows, { pipeline, window, data });
}

/** Files under `export/` recursively, to prove no temporary file is left behind. */
function exported(): string[] {
  return readdirSync(join(out, 'export'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(out.length + 1))
    .sort();
}

describe('reading', () => {
  test('CSV: header row, BOM, CRLF, quoted fields with commas, doubled quotes and newlines, blank lines skipped', async () => {
    expect(await extract('orders_csv')).toEqual([
      { id: '1', customer: 'Smith, Jane', note: 'said "hi"', amount: '10.50' },
      { id: '2', customer: 'Bob', note: 'two\nlines', amount: '' },
      { id: '3', customer: '', note: 'plain', amount: '7' },
    ]);
  });

  test('CSV with another delimiter', async () => {
    expect(await extract('cities_csv')).toEqual([
      { id: '1', city: 'Paris; France' },
      { id: '2', city: 'Lyon' },
    ]);
  });

  test('NDJSON: one object per line with its JSON types, blank lines skipped', async () => {
    expect(await extract('events_ndjson')).toEqual([
      { id: 1, kind: 'click', meta: { x: 1, tags: ['a', 'b'] }, at: '2026-11-20T08:00:00.000Z' },
      { id: 2, kind: 'view', meta: null, ok: true },
      { id: 3, kind: 'quote " and \\n', amount: 1.25 },
    ]);
  });

  test('the path follows the window: another day reads another file, and a missing one is FileNotFound naming it', async () => {
    const err = await failureOf(
      h.run(h.activities.extractRows, { pipeline: 'orders_csv', window: parseWindow('2026-11-21') }),
    );
    expect(expectPermanent(err, 'FileNotFound').message).toBe(`no file at ${join(fixtures, 'orders-2026-11-21.csv')}`);
  });

  test('path templates: {startDate} and {endDate} are dates, {start} and {end} compact instants; relative paths use the base folder', () => {
    const hours = parseWindow('2026-11-20T04:00/2026-11-20T05:30');
    expect(windowPath('in/{startDate}/{endDate}/{start}-{end}.csv', hours, '/data')).toBe(
      '/data/in/2026-11-20/2026-11-20/20261120T040000Z-20261120T053000Z.csv',
    );
    expect(windowPath('/abs/{startDate}.csv', window, '/data')).toBe('/abs/2026-11-20.csv');
    expect(windowPath('{endDate}.csv', window, '/data')).toBe('/data/2026-11-21.csv');
  });

  test('a line that is not JSON is InvalidFile naming the file and the line', async () => {
    writeFileSync(join(out, 'bad-2026-11-20.ndjson'), '{"id":1}\n\n{"id":2,}\n{"id":3}\n');
    const err = await failureOf(extract('bad_ndjson'));
    expect(expectPermanent(err, 'InvalidFile').message).toContain(`${join(out, 'bad-2026-11-20.ndjson')}:3:`);
  });

  test('a line that is JSON but not an object is InvalidFile naming the line', async () => {
    writeFileSync(join(out, 'bad-2026-11-20.ndjson'), '{"id":1}\n[1,2]\n');
    const err = await failureOf(extract('bad_ndjson'));
    expect(expectPermanent(err, 'InvalidFile').message).toMatch(
      /bad-2026-11-20\.ndjson:2: each line must be a JSON object/,
    );
  });

  test.each([
    ['an unclosed quote', 'id,name\n1,"open\n2,b\n'],
    ['a record with more fields than the header', 'id,name\n1,a\n2,b,extra\n'],
  ])('a CSV with %s is InvalidFile', async (_, text) => {
    writeFileSync(join(out, 'bad-2026-11-20.csv'), text);
    const err = await failureOf(extract('bad_csv'));
    expect(expectPermanent(err, 'InvalidFile').message).toContain(join(out, 'bad-2026-11-20.csv'));
  });
});

describe('writing', () => {
  const tricky: Row[] = [
    { id: 1, name: 'Smith, Jane', note: 'said "hi"', extra: null },
    { id: 2, name: 'two\nlines', note: '', extra: { nested: [1, 2] } },
    { id: 3, name: 'plain', note: 'ünïcödé', extra: true },
  ];

  test('CSV: header from the first row, RFC 4180 quoting, and it reads back as the same text', async () => {
    expect(await load('write_csv', inline(tricky))).toEqual({ rows: 3, replayed: false });
    expect(readFileSync(join(out, 'export/2026-11-20/orders.csv'), 'utf8')).toBe(
      'id,name,note,extra\n1,"Smith, Jane","said ""hi""",\n2,"two\nlines",,"{""nested"":[1,2]}"\n3,plain,ünïcödé,true\n',
    );
    expect(await extract('read_written_csv')).toEqual([
      { id: '1', name: 'Smith, Jane', note: 'said "hi"', extra: '' },
      { id: '2', name: 'two\nlines', note: '', extra: '{"nested":[1,2]}' },
      { id: '3', name: 'plain', note: 'ünïcödé', extra: 'true' },
    ]);
  });

  test('a rerun replaces the file (never appends) and leaves no temporary file', async () => {
    await load('write_csv', inline(tricky));
    await load('write_csv', inline([{ id: 9, name: 'only', note: 'row', extra: null }]));
    expect(readFileSync(join(out, 'export/2026-11-20/orders.csv'), 'utf8')).toBe('id,name,note,extra\n9,only,row,\n');
    expect(exported().filter((f) => f.startsWith('export/2026-11-20/'))).toEqual(['export/2026-11-20/orders.csv']);
  });

  test('NDJSON: one JSON object per line at the windowed path; it reads back as the same rows', async () => {
    expect(await load('write_ndjson', inline(tricky))).toEqual({ rows: 3, replayed: false });
    const path = join(out, 'export/20261120T000000Z_20261121T000000Z.ndjson');
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(4);
    expect(await extract('read_written_ndjson')).toEqual(tricky);
  });

  test('staged rows in several chunks are written in order with one header', async () => {
    const data = await stagedChunks(h.staging, [
      [
        { id: 1, v: 'a' },
        { id: 2, v: 'b' },
      ],
      [{ id: 3, v: 'c' }],
      [{ id: 4, v: 'd' }],
    ]);
    expect(await load('write_csv', data)).toEqual({ rows: 4, replayed: false });
    expect(readFileSync(join(out, 'export/2026-11-20/orders.csv'), 'utf8')).toBe('id,v\n1,a\n2,b\n3,c\n4,d\n');
  });

  /** More than the file stream's buffer, so writing it waits for 'drain': when the next chunk is asked for, it is on disk. */
  const bigChunk = Array.from({ length: 2_000 }, (_, i) => ({ id: i + 2, v: 'x'.repeat(50) }));
  const step = FileWriteStep.parse(csv.write('export/{startDate}/orders.csv'));

  test('a write that fails part-way keeps the previous file whole and leaves no temporary file', async () => {
    await load('write_csv', inline([{ id: 1, v: 'kept' }]));
    async function* breaksOff(): AsyncGenerator<Row[]> {
      yield bigChunk;
      throw new Error('source broke off');
    }
    await expect(writeFileRows(step, window, breaksOff(), out)).rejects.toThrow('source broke off');
    expect(readFileSync(join(out, 'export/2026-11-20/orders.csv'), 'utf8')).toBe('id,v\n1,kept\n');
    expect(exported().filter((f) => f.startsWith('export/2026-11-20/'))).toEqual(['export/2026-11-20/orders.csv']);
  });

  // Known bug (activities/files.ts writeFileRows): when the input fails while a write is in flight on the file
  // stream, `out.destroy()` makes the write's completion emit ERR_STREAM_DESTROYED as an 'error' event nobody listens
  // to: an uncaught exception, which crashes the worker. It runs in a child process so the crash is observable.
  // Marked failing until fixed; then make it a plain test.
  test('a write whose input fails while a chunk is being written rejects, and the process survives', () => {
    const dir = mkdtempSync(join(out, 'child-'));
    writeFileSync(join(dir, 'orders.csv'), 'id,v\n1,kept\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'write-breaks-off.ts'), dir], {
      cwd: resolve(__dirname, '../..'),
      encoding: 'utf8',
    });
    expect({ status: child.status, stdout: child.stdout, stderr: child.stderr }).toEqual({
      status: 0,
      stdout: 'rejected: source broke off\n',
      stderr: '',
    });
    expect(readFileSync(join(dir, 'orders.csv'), 'utf8')).toBe('id,v\n1,kept\n');
    expect(readdirSync(dir)).toEqual(['orders.csv']);
  });

  test('no rows with columns given writes just the header', async () => {
    await load('write_csv_columns', inline([]));
    expect(readFileSync(join(out, 'export/columns.csv'), 'utf8')).toBe('b,a\n');
  });

  // Known bug (activities/files.ts writeFileRows): with `columns` given, the header is only written when there are
  // no rows, so the file cannot be read back by csv.read. Marked failing until fixed; then make it a plain test.
  test('rows with columns given are written with a header in that column order, and read back', async () => {
    await load('write_csv_columns', inline([{ a: 1, b: 2, c: 3 }]));
    expect(readFileSync(join(out, 'export/columns.csv'), 'utf8')).toBe('b,a\n2,1\n');
    expect(await extract('read_csv_columns')).toEqual([{ b: '2', a: '1' }]);
  });
});
