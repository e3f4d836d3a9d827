import { csv, definePipeline, ndjson, postgres } from 'pipectl';
import { isPipelineDefinition, PipelineSpec } from '../../core/pipeline-spec';
import { toRunInput } from '../../core/run-input';
import { parseWindow } from '../../core/window';

const base = { name: 'orders', extract: csv.read('data/orders.csv'), load: csv.write('out/orders.csv') };

/** The issues of an invalid spec as `field: message` lines. */
function problems(value: Record<string, unknown>): string[] {
  const parsed = PipelineSpec.safeParse({ ...base, ...value });
  if (parsed.success) throw new Error('expected the spec to be invalid');
  return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('PipelineSpec defaults', () => {
  it('fills in every default of a minimal definition', () => {
    expect(PipelineSpec.parse(base)).toEqual({
      name: 'orders',
      description: '',
      inputs: [],
      outputs: [],
      dependsOn: [],
      localSteps: false,
      inline: false,
      transformThreads: 1,
      overlapLoad: false,
      retry: { maximumAttempts: 3, initialInterval: 5_000, backoffCoefficient: 2, nonRetryableErrorTypes: [] },
      timeouts: { step: 30 * 60_000, heartbeat: 60_000, run: 24 * 3_600_000, upstream: 6 * 3_600_000 },
      tags: [],
      extract: { kind: 'file.read', format: 'csv', path: 'data/orders.csv', delimiter: ',' },
      load: { kind: 'file.write', format: 'csv', path: 'out/orders.csv', delimiter: ',' },
    });
  });

  it('reads durations into milliseconds and keeps the other defaults of a partly given block', () => {
    const spec = PipelineSpec.parse({
      ...base,
      retry: { maximumAttempts: 5, initialInterval: '2s', maximumInterval: '1 minute' },
      timeouts: { step: '10 minutes', load: 90_000, run: '1h30m' },
    });
    expect(spec.retry).toEqual({
      maximumAttempts: 5,
      initialInterval: 2_000,
      backoffCoefficient: 2,
      maximumInterval: 60_000,
      nonRetryableErrorTypes: [],
    });
    expect(spec.timeouts).toEqual({
      step: 600_000,
      load: 90_000,
      heartbeat: 60_000,
      run: 5_400_000,
      upstream: 21_600_000,
    });
  });

  it('defaults the schedule time zone to UTC', () => {
    expect(PipelineSpec.parse({ ...base, schedule: { every: 'daily' } }).schedule).toEqual({
      every: 'daily',
      timezone: 'UTC',
      overlap: 'skip',
      pauseOnFailure: false,
    });
  });

  it('keeps function steps as they are', () => {
    const extract = () => [{ id: 1 }];
    const transform = (rows: unknown[]) => rows;
    const load = () => 1;
    const spec = PipelineSpec.parse({ name: 'fn', extract, transform, load });
    expect(spec.extract).toBe(extract);
    expect(spec.transform).toBe(transform);
    expect(spec.load).toBe(load);
  });
});

describe('PipelineSpec schedule', () => {
  it.each([
    'hourly',
    'daily',
    'weekly',
    'monthly',
    'quarterly',
    'yearly',
    '15 minutes',
    '1 day',
    '2 hours',
    '3 months',
  ])('accepts every: %j', (every) => {
    expect(PipelineSpec.safeParse({ ...base, schedule: { every } }).success).toBe(true);
  });

  it.each(['fortnightly', '0 days', '1.5 hours', '30 seconds'])(
    'rejects every: %j, listing what it accepts',
    (every) => {
      expect(problems({ schedule: { every } })).toEqual([
        "schedule.every: every is 'N minutes|hours|days|weeks|months' with N ≥ 1, or hourly, daily, weekly, monthly, quarterly, yearly",
      ]);
    },
  );

  it('needs every or cron, not neither and not both', () => {
    expect(problems({ schedule: {} })).toEqual(['schedule: a schedule needs every or cron']);
    expect(problems({ schedule: { every: '1 day', cron: '0 4 * * *' } })).toEqual([
      'schedule.cron: give every or cron, not both',
    ]);
  });

  it('checks the ranges of hours, weekdays and months', () => {
    expect(problems({ schedule: { every: '15 minutes', hours: [24], weekdays: [7], months: [0] } })).toEqual([
      'schedule.hours.0: hours run from 0 to 23',
      'schedule.weekdays.0: weekdays run from 0 (Sunday) to 6',
      'schedule.months.0: months run from 1 to 12',
    ]);
  });

  it('rejects an end before the start', () => {
    expect(problems({ schedule: { every: 'daily', start: '2026-12-01', end: '2026-11-01' } })).toEqual([
      'schedule.end: end must be after start',
    ]);
  });
});

describe('PipelineSpec steps', () => {
  it('rejects an empty query', () => {
    expect(problems({ extract: postgres.query({ connection: 'source', sql: '' }) })).toEqual([
      'extract.sql: the query cannot be empty',
    ]);
  });

  it('rejects a load mode it does not know', () => {
    expect(problems({ load: { kind: 'postgres.load', mode: 'merge', connection: 'w', table: 't' } })).toEqual([
      'load.mode: Invalid option: expected one of "upsert"|"replace"',
    ]);
  });

  it('rejects a file format it does not know', () => {
    expect(problems({ extract: { kind: 'file.read', format: 'xml', path: 'x.xml' } })).toEqual([
      'extract.format: Invalid option: expected one of "csv"|"ndjson"',
    ]);
  });

  it('rejects null as a step', () => {
    expect(problems({ extract: null })).toEqual([
      "extract: must be a function or a built-in step (postgres.query({...}), csv.read('...'), or async (ctx) => rows)",
    ]);
  });

  it('rejects unknown fields inside a step', () => {
    expect(problems({ load: { ...csv.write('x.csv'), compress: true } })).toEqual(['load.compress: unknown field']);
    expect(problems({ retry: { maxAttempts: 3 } })).toEqual([expect.stringMatching(/^retry: .*maxAttempts/)]);
  });

  it('rejects bad dataset names and task queues', () => {
    expect(problems({ inputs: ['bad name'], taskQueue: 'has space' })).toEqual([
      'inputs.0: a dataset name is like raw.orders',
      'taskQueue: a task queue is letters, digits, _, . and -',
    ]);
  });
});

describe('definePipeline and the step helpers', () => {
  it('marks and freezes the definition without validating it', () => {
    const def = definePipeline({ ...base, retry: { maximumAttempts: 0 } });
    expect(isPipelineDefinition(def)).toBe(true);
    expect(Object.isFrozen(def)).toBe(true);
    expect(isPipelineDefinition({ ...base })).toBe(false);
    expect(isPipelineDefinition(null)).toBe(false);
  });

  it('builds the built-in steps', () => {
    expect(postgres.query({ connection: 'source', sql: 'SELECT 1' })).toEqual({
      kind: 'postgres.query',
      connection: 'source',
      sql: 'SELECT 1',
      params: {},
      batchSize: 10_000,
    });
    expect(postgres.upsert({ connection: 'w', table: 't', key: ['id'] })).toEqual({
      kind: 'postgres.load',
      mode: 'upsert',
      connection: 'w',
      table: 't',
      key: ['id'],
    });
    expect(postgres.replace({ connection: 'w', table: 't', windowColumn: 'at' })).toEqual({
      kind: 'postgres.load',
      mode: 'replace',
      connection: 'w',
      table: 't',
      windowColumn: 'at',
    });
    expect(csv.read('a.csv', { delimiter: ';' })).toEqual({
      kind: 'file.read',
      format: 'csv',
      path: 'a.csv',
      delimiter: ';',
    });
    expect(ndjson.write('a.ndjson')).toEqual({ kind: 'file.write', format: 'ndjson', path: 'a.ndjson' });
  });
});

describe('transformRow', () => {
  it('is a function, and not given together with transform', () => {
    expect(problems({ transformRow: 'upper' })).toEqual([
      'transformRow: transformRow must be a function (row, ctx) => row, rows or null',
    ]);
    expect(problems({ transform: (rows: unknown[]) => rows, transformRow: (row: unknown) => row })).toEqual([
      'transformRow: give transform or transformRow, not both',
    ]);
    expect(PipelineSpec.parse({ ...base, transformRow: (row: unknown) => row }).transformRow).toBeInstanceOf(Function);
  });
});

describe('transformThreads', () => {
  it('is a whole number of threads from 1 to 64, 1 by default, for a transformRow only', () => {
    const row = (r: unknown) => r;
    expect(PipelineSpec.parse(base).transformThreads).toBe(1);
    expect(PipelineSpec.parse({ ...base, transformRow: row, transformThreads: 4 }).transformThreads).toBe(4);
    expect(problems({ transformRow: row, transformThreads: 0 })).toEqual([
      'transformThreads: Too small: expected number to be >=1',
    ]);
    expect(problems({ transformRow: row, transformThreads: 1.5 })).toEqual([
      'transformThreads: Invalid input: expected int, received number',
    ]);
    expect(problems({ transformThreads: 2 })).toEqual([
      'transformThreads: transformThreads spreads a transformRow over threads: give transformRow, or leave it at 1',
    ]);
    // Not part of the run's input: where the transform runs does not change the workflow.
    const window = parseWindow('2026-11-20');
    const input = toRunInput(PipelineSpec.parse({ ...base, transformRow: row, transformThreads: 2 }), window, 'manual');
    expect(JSON.stringify(input)).not.toContain('Threads');
  });
});

describe('overlapLoad', () => {
  it('is a boolean, off by default, needs a transform, and reaches the run input only when on', () => {
    const row = (r: unknown) => r;
    const window = parseWindow('2026-11-20');
    expect(PipelineSpec.parse(base).overlapLoad).toBe(false);
    expect(problems({ overlapLoad: true })).toEqual([
      'overlapLoad: overlapLoad runs the load alongside the transform: give transform or transformRow, or leave it off',
    ]);
    expect(problems({ overlapLoad: 'yes' })).toEqual(['overlapLoad: Invalid input: expected boolean, received string']);
    const off = toRunInput(PipelineSpec.parse({ ...base, transformRow: row }), window, 'manual');
    expect(off).not.toHaveProperty('overlapLoad');
    for (const transform of [{ transformRow: row }, { transform: (rows: unknown[]) => rows }]) {
      const on = toRunInput(PipelineSpec.parse({ ...base, ...transform, overlapLoad: true }), window, 'manual');
      expect(on.overlapLoad).toBe(true);
    }
  });
});

describe('localSteps', () => {
  it("is true, false or 'fused', off by default, and reaches the run input only when on", () => {
    expect(problems({ localSteps: 'yes' })).toEqual(["localSteps: localSteps is true, false or 'fused'"]);
    const window = parseWindow('2026-11-20');
    const off = toRunInput(PipelineSpec.parse(base), window, 'manual');
    expect('localSteps' in off).toBe(false);
    expect('fusedSteps' in off).toBe(false);
    const local = toRunInput(PipelineSpec.parse({ ...base, localSteps: true }), window, 'manual');
    expect(local.localSteps).toBe(true);
    expect('fusedSteps' in local).toBe(false);
    const fused = toRunInput(PipelineSpec.parse({ ...base, localSteps: 'fused' }), window, 'manual');
    expect(fused).toMatchObject({ localSteps: true, fusedSteps: true });
  });

  it("'fused' runs the steps one after the other, so not with overlapLoad", () => {
    const transformRow = (r: unknown) => r;
    expect(problems({ localSteps: 'fused', transformRow, overlapLoad: true })).toEqual([
      "overlapLoad: overlapLoad runs the load alongside the transform as a step of its own; localSteps 'fused' runs " +
        'the steps one after the other in one activity: leave one of them off',
    ]);
    expect(PipelineSpec.parse({ ...base, localSteps: 'fused', transformRow }).localSteps).toBe('fused');
  });
});
