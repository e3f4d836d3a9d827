import { z } from 'zod';
import type { Pool } from 'pg';
import { parseDuration } from './duration';
import { CONNECTION_NAME, DATASET_NAME, PIPELINE_NAME, SQL_IDENTIFIER, TABLE_NAME } from './identifiers';
import { resolveSchedule, ScheduleError } from './schedule';
import { isValidTimeZone } from './time';
import type { Window } from './window';

/** One record flowing between steps. Values must be JSON-serialisable (dates become ISO strings). */
export type Row = Record<string, unknown>;

/** What a step function receives besides its rows. */
export interface StepContext {
  /** The pipeline's name. */
  pipeline: string;
  /** The window this run processes, as ISO strings. */
  window: Window;
  /** The window as `Date` objects, for SQL parameters and arithmetic. */
  windowStart: Date;
  /** Exclusive end of the window. */
  windowEnd: Date;
  /** The Temporal workflow ID of this run (`pipeline/<name>/<window start>`). */
  workflowId: string;
  /** Which attempt of this step this is, starting at 1. */
  attempt: number;
  /** The pool of a named PostgreSQL connection (see the README's configuration section). */
  postgres(connection: string): Promise<Pool>;
  /** Reports liveness; long custom steps should call it at least once per heartbeat timeout. */
  heartbeat(details?: unknown): void;
  /** Aborted when the run is cancelled or the step timed out. */
  signal: AbortSignal;
  /** Structured logger that tags every line with the pipeline, window and workflow. */
  log: {
    info(message: string, attrs?: Record<string, unknown>): void;
    warn(message: string, attrs?: Record<string, unknown>): void;
    error(message: string, attrs?: Record<string, unknown>): void;
  };
}

/** A custom extract: returns the window's rows. */
export type ExtractFn = (ctx: StepContext) => Promise<Row[]> | Row[];
/** A transform: turns the extracted rows into the rows to load. */
export type TransformFn = (rows: Row[], ctx: StepContext) => Promise<Row[]> | Row[];
/**
 * A row transform: one extracted row in, one row, several (an array) or none (null) out. Its step reads the staged
 * rows chunk by chunk and writes each chunk's output before reading the next, so a window never sits whole in memory.
 */
export type TransformRowFn = (
  row: Row,
  ctx: StepContext,
) => Row | Row[] | null | undefined | Promise<Row | Row[] | null | undefined>;
/** A custom load: writes the rows idempotently for the window and returns how many it wrote. */
export type LoadFn = (rows: Row[], ctx: StepContext) => Promise<number | void> | number | void;

const duration = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(value)} is not a duration (e.g. '30s', '5 minutes', '1h')`,
      });
      return z.NEVER;
    }
    if (ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `${what} must be longer than zero` });
      return z.NEVER;
    }
    return ms;
  });

const connection = z
  .string()
  .regex(
    CONNECTION_NAME,
    'a connection name is lower-case letters, digits and _, starting with a letter (e.g. warehouse)',
  );
const column = z.string().regex(SQL_IDENTIFIER, 'a column name is letters, digits and _, starting with a letter or _');
const table = z
  .string()
  .regex(
    TABLE_NAME,
    'a table is `table` or `schema.table`, each part letters, digits and _, starting with a letter or _',
  );
const filePath = z.string().min(1, 'a path cannot be empty');
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/**
 * PostgreSQL query extract: `$windowStart`, `$windowEnd` and `$<param>` are bound as parameters to describe the
 * result, then given to `COPY (query) TO STDOUT` as literals quoted by the driver (COPY takes no parameters).
 */
export const PostgresQueryStep = z
  .object({
    kind: z.literal('postgres.query'),
    /** Named connection to read from. */
    connection,
    /** The query. */
    sql: z.string().min(1, 'the query cannot be empty'),
    /** Extra named parameters, referenced as `$name` in the SQL. */
    params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), scalar).default({}),
    /** Rows fetched per round trip when the query is read through a cursor (one COPY cannot wrap). */
    batchSize: z.number().int().min(1).max(1_000_000).default(10_000),
  })
  .strict();
export type PostgresQueryStep = z.infer<typeof PostgresQueryStep>;

/** PostgreSQL load in one transaction: upsert by key, or replace the window's rows. */
export const PostgresLoadStep = z
  .object({
    kind: z.literal('postgres.load'),
    /** Named connection to write to. */
    connection,
    /** Target table, `schema.table` or `table`; it must exist. */
    table,
    /** `upsert`: insert or update by `key`. `replace`: delete the window's rows (by `windowColumn`) then insert. */
    mode: z.enum(['upsert', 'replace']),
    /** Primary or unique key columns for `upsert`. */
    key: z.array(column).min(1, 'upsert needs at least one key column').optional(),
    /** Column compared with the window for `replace`: rows with `windowStart <= column < windowEnd` are replaced. */
    windowColumn: column.optional(),
    /** Columns to write; defaults to the keys of the first row. */
    columns: z.array(column).min(1).optional(),
  })
  .strict()
  .superRefine((step, ctx) => {
    if (step.mode === 'upsert' && !step.key) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: "mode 'upsert' needs key: the columns that identify a row",
      });
    }
    if (step.mode === 'replace' && !step.windowColumn) {
      ctx.addIssue({
        code: 'custom',
        path: ['windowColumn'],
        message: "mode 'replace' needs windowColumn: the column compared with the window",
      });
    }
  });
export type PostgresLoadStep = z.infer<typeof PostgresLoadStep>;

/** File formats the built-in file steps read and write. */
export const FileFormat = z.enum(['csv', 'ndjson']);
export type FileFormat = z.infer<typeof FileFormat>;

/**
 * Reads a CSV (with a header row) or NDJSON file. `{start}`, `{end}`, `{startDate}`, `{endDate}` in the path are
 * replaced by the window, so one definition reads one file per window.
 */
export const FileReadStep = z
  .object({
    kind: z.literal('file.read'),
    format: FileFormat,
    path: filePath,
    /** CSV only: field delimiter. */
    delimiter: z.string().length(1).default(','),
  })
  .strict();
export type FileReadStep = z.infer<typeof FileReadStep>;

/** Writes the rows to a CSV or NDJSON file for the window, atomically (the file is whole or absent). */
export const FileWriteStep = z
  .object({
    kind: z.literal('file.write'),
    format: FileFormat,
    path: filePath,
    delimiter: z.string().length(1).default(','),
    /** Columns and their order; defaults to the keys of the first row. */
    columns: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();
export type FileWriteStep = z.infer<typeof FileWriteStep>;

export const ExtractStep = z.discriminatedUnion('kind', [PostgresQueryStep, FileReadStep]);
export type ExtractStep = z.infer<typeof ExtractStep>;
export const LoadStep = z.discriminatedUnion('kind', [PostgresLoadStep, FileWriteStep]);
export type LoadStep = z.infer<typeof LoadStep>;

function stepOrFunction<S extends z.ZodType, F>(schema: S, kinds: string, example: string) {
  return z.unknown().transform((value, ctx): z.output<S> | F => {
    if (typeof value === 'function') return value as F;
    if (value === null || typeof value !== 'object' || !('kind' in value)) {
      ctx.addIssue({ code: 'custom', message: `must be a function or a built-in step (${example})` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) {
            ctx.addIssue({ code: 'custom', message: 'unknown field', path: [...issue.path, key] });
          }
          continue;
        }
        const message =
          issue.code === 'invalid_union' && issue.path.join('.') === 'kind'
            ? `unknown step kind ${JSON.stringify(value.kind)} (one of ${kinds})`
            : issue.message;
        ctx.addIssue({ code: 'custom', message, path: issue.path });
      }
      return z.NEVER;
    }
    return parsed.data;
  });
}

/** When a notification is sent: after a failed run, after a successful one. */
export const NotifyOutcome = z.enum(['failure', 'success']);
export type NotifyOutcome = z.infer<typeof NotifyOutcome>;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An HTTP endpoint that receives a JSON POST when a run ends (Slack incoming webhooks read its `text`). */
export const NotifyTarget = z
  .object({
    /** The endpoint, `http://` or `https://`. */
    url: z.string({ error: 'url is required' }).refine(isHttpUrl, {
      message: 'a notification url is an http:// or https:// URL, e.g. https://hooks.slack.com/services/…',
    }),
    /** Which outcomes are sent. Default: failures only. */
    on: z
      .array(NotifyOutcome, { error: "on is a list of 'failure' and 'success'" })
      .min(1, "on needs at least one of 'failure', 'success' (remove the target to send nothing)")
      .default(['failure']),
    /** Extra request headers, e.g. `Authorization`. They are stored in the run's history: do not put secrets here. */
    headers: z
      .record(
        z.string(),
        z.string().refine((v) => !/[\r\n]/.test(v), { message: 'a header value is one line' }),
      )
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (!HEADER_NAME.test(name)) {
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'a header name is letters, digits and - (e.g. Authorization)',
            });
          }
        }
      })
      .optional(),
  })
  .strict();
export type NotifyTarget = z.infer<typeof NotifyTarget>;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * One notification target or a list of them, read into a list. Issues are reported at the field (`notify.url` for a
 * single target, `notify.1.on` in a list), which a plain union of object and array would not do.
 */
const NotifyTargets = z.unknown().transform((value, ctx): NotifyTarget[] => {
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  const out: NotifyTarget[] = [];
  list.forEach((item, i) => {
    const at = Array.isArray(value) ? [i] : [];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      ctx.addIssue({
        code: 'custom',
        path: at,
        message: "a notification target is { url, on?: ['failure'], headers? }",
      });
      return;
    }
    const parsed = NotifyTarget.safeParse(item);
    if (parsed.success) {
      out.push(parsed.data);
      return;
    }
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys)
          ctx.addIssue({ code: 'custom', message: 'unknown field', path: [...at, ...issue.path, key] });
      } else ctx.addIssue({ code: 'custom', message: issue.message, path: [...at, ...issue.path] });
    }
  });
  return out;
}) as unknown as z.ZodType<NotifyTarget[], z.input<typeof NotifyTarget> | z.input<typeof NotifyTarget>[]>;

const EVERY = /^(hourly|daily|weekly|monthly|quarterly|yearly|[1-9]\d*\s*(minutes?|hours?|days?|weeks?|months?))$/;
const HOURS = z.array(z.number().int().min(0, 'hours run from 0 to 23').max(23, 'hours run from 0 to 23'));

/** When a pipeline runs. Stored with the definition; `pipectl sync` turns it into a Temporal Schedule. */
export const ScheduleSpec = z
  .object({
    /** How often: `'15 minutes'`, `'1 day'`, or `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `yearly`. */
    every: z
      .string()
      .regex(
        EVERY,
        "every is 'N minutes|hours|days|weeks|months' with N ≥ 1, or hourly, daily, weekly, monthly, quarterly, yearly",
      )
      .optional(),
    /** Anchor: time of day `HH:MM`, or `Mon 09:00`, or `31 04:00` (day of month), or a full start datetime. */
    at: z.string().min(1).optional(),
    /** IANA time zone of `at` and the filters. */
    timezone: z
      .string()
      .refine(isValidTimeZone, { message: 'unknown time zone: use an IANA name such as Europe/Paris or UTC' })
      .default('UTC'),
    /** A cron expression (5 fields) instead of `every`. */
    cron: z
      .string()
      .refine((c) => c.trim().split(/\s+/).length === 5, {
        message: 'a cron expression has 5 fields: minute hour day month weekday',
      })
      .optional(),
    /** Only fire in these hours of the day (0–23). */
    hours: HOURS.optional(),
    /** Only fire on these weekdays (0 = Sunday … 6 = Saturday). */
    weekdays: z
      .array(z.number().int().min(0, 'weekdays run from 0 (Sunday) to 6').max(6, 'weekdays run from 0 (Sunday) to 6'))
      .optional(),
    /** Only fire in these months (1–12). */
    months: z.array(z.number().int().min(1, 'months run from 1 to 12').max(12, 'months run from 1 to 12')).optional(),
    /** First day the schedule may fire (`YYYY-MM-DD` or ISO datetime). */
    start: z.string().optional(),
    /** Last day the schedule may fire. */
    end: z.string().optional(),
    /**
     * Name of the group: pipelines with identical schedules share one group (one Temporal Schedule, one DAG run per
     * firing). Default: a name derived from the schedule, such as `daily-0400-europe-paris`.
     */
    group: z
      .string()
      .regex(PIPELINE_NAME, 'a group name is lower-case letters, digits, _ and -, starting with a letter')
      .refine((g) => g !== 'manual', { message: "'manual' is reserved for runs started by hand" })
      .optional(),
    /** Random delay of each firing, up to this long (spreads load when many schedules fire at once). */
    jitter: duration('jitter').optional(),
    /** What happens when a firing comes while the previous run is still going. */
    overlap: z
      .enum(['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'])
      .default('skip'),
    /** After the server was down, firings missed within this long are still run. Default 1 minute (Temporal's). */
    catchupWindow: duration('catchupWindow').optional(),
    /** Pause the schedule when a run fails, until someone resumes it. */
    pauseOnFailure: z.boolean().default(false),
    /** Most pipeline runs at once in the group's DAG runs (default `PIPECTL_MAX_PARALLEL`, or 8). */
    maxParallel: z
      .number()
      .int()
      .min(1, 'maxParallel must be at least 1')
      .max(1000, 'maxParallel is at most 1000')
      .optional(),
    /**
     * Notified once per DAG run of the group, when it ends, with a summary of its pipelines. Pipelines of a group
     * share it: set it on one of them, or the same on each.
     */
    notify: NotifyTargets.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.every && !s.cron) ctx.addIssue({ code: 'custom', message: 'a schedule needs every or cron' });
    if (s.every && s.cron) ctx.addIssue({ code: 'custom', path: ['cron'], message: 'give every or cron, not both' });
    if (s.start && s.end && Date.parse(s.end) <= Date.parse(s.start)) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'end must be after start' });
      return;
    }
    // The parts must each be valid before they can be resolved together.
    if ((!s.every && !s.cron) || (s.every && s.cron) || !isValidTimeZone(s.timezone)) return;
    if (s.every && !EVERY.test(s.every)) return;
    if (s.cron && s.cron.trim().split(/\s+/).length !== 5) return;
    const within = (values: number[] | undefined, min: number, max: number) =>
      (values ?? []).every((v) => Number.isInteger(v) && v >= min && v <= max);
    if (!within(s.hours, 0, 23) || !within(s.weekdays, 0, 6) || !within(s.months, 1, 12)) return;
    try {
      resolveSchedule(s);
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      ctx.addIssue({ code: 'custom', path: [err.field], message: err.message });
    }
  });
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

/** Retry policy of each step, with Temporal's meaning. */
export const RetrySpec = z
  .object({
    /** Attempts per step including the first; 1 means no retry. */
    maximumAttempts: z.number().int().min(1, 'maximumAttempts must be at least 1').max(1000).default(3),
    /** Wait before the first retry. */
    initialInterval: duration('initialInterval').default(5_000),
    /** Growth of the wait between retries. */
    backoffCoefficient: z.number().min(1, 'backoffCoefficient must be at least 1').max(100).default(2),
    /** Longest wait between retries. */
    maximumInterval: duration('maximumInterval').optional(),
    /** Error types that fail the step at once. */
    nonRetryableErrorTypes: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type RetrySpec = z.infer<typeof RetrySpec>;

/** Time limits, all durations. */
export const TimeoutSpec = z
  .object({
    /** Longest one attempt of any step may take. */
    step: duration('step').default(30 * 60_000),
    /** Overrides of `step` for one step. */
    extract: duration('extract').optional(),
    transform: duration('transform').optional(),
    load: duration('load').optional(),
    /** A step that has not heartbeated for this long is considered lost and retried. */
    heartbeat: duration('heartbeat').default(60_000),
    /** Longest a whole run may take, retries included. */
    run: duration('run').default(24 * 3_600_000),
    /**
     * Longest a DAG run waits for an upstream in another group (another schedule) to succeed for the same window
     * before this pipeline fails with `UpstreamLate`.
     */
    upstream: duration('upstream').default(6 * 3_600_000),
  })
  .strict();
export type TimeoutSpec = z.infer<typeof TimeoutSpec>;

/** A pipeline definition as validated from a definition file. */
export const PipelineSpec = z
  .object({
    /** Unique name: lower-case letters, digits, `_`, `-`. Part of workflow IDs. */
    name: z
      .string({ error: 'name is required' })
      .regex(
        PIPELINE_NAME,
        'a name is lower-case letters, digits, _ and -, starting with a letter, at most 100 characters',
      ),
    /** What the pipeline produces, for people. */
    description: z.string().default(''),
    /** When it runs; absent for pipelines that only run downstream of others or by hand. */
    schedule: ScheduleSpec.optional(),
    /** Datasets read. */
    inputs: z.array(z.string().regex(DATASET_NAME, 'a dataset name is like raw.orders')).default([]),
    /** Datasets written. */
    outputs: z.array(z.string().regex(DATASET_NAME, 'a dataset name is like analytics.orders_daily')).default([]),
    /** Pipelines that must succeed first, besides those found through inputs and outputs. */
    dependsOn: z.array(z.string().regex(PIPELINE_NAME, 'dependsOn names pipelines')).default([]),
    /** Retry policy applied to every step. */
    retry: RetrySpec.default(RetrySpec.parse({})),
    /** Time limits. */
    timeouts: TimeoutSpec.default(TimeoutSpec.parse({})),
    /**
     * Run extract, transform and load as Temporal local activities, inside the run's workflow task, instead of as
     * activities the server dispatches: for quick steps (seconds) a run then takes one workflow task instead of one per
     * step, and no activity task. The retry policy and step timeouts apply as they are; heartbeat timeouts do not, and
     * a step that outlives its worker is run again from the start by the worker that takes the run over.
     *
     * `'fused'` runs the steps together, one after the other, as a single local activity: one round trip to the
     * worker per run instead of one per step, for pipelines whose steps take milliseconds. The steps' results pass
     * from one to the next inside the worker (staged above the inline limit, as always). The retry policy applies to
     * the run's steps as a whole: an attempt that fails in any step starts again from the extract (a load that had
     * committed is not written twice). The time limit of an attempt is the sum of the steps' limits. The run's
     * progress shows the steps' outcomes when the activity ends. Not with `overlapLoad`.
     */
    localSteps: z
      .union([z.boolean(), z.literal('fused')], { error: "localSteps is true, false or 'fused'" })
      .default(false),
    /**
     * In its group's DAG runs, run inside the DAG run's workflow instead of as a child workflow of its own: its steps
     * become the DAG run's activities (local activities with `localSteps`), which saves the child's start, its
     * workflow tasks and its completion, most of what a run of quick steps costs. The run has no workflow, search
     * attributes or progress query of its own: the DAG run's history, details and state show it. Its time limit
     * (`timeouts.run`) ends its activity steps' schedule-to-close timeouts; its local steps are stopped then. Its steps
     * go to its task queue, except local steps, which run on the DAG run's worker. `pipectl run` of the pipeline alone
     * still runs it as its own workflow. Pipelines of other groups cannot wait for it, since they look for runs of
     * their own.
     */
    inline: z.boolean().default(false),
    /** Temporal task queue whose workers run this pipeline; default `PIPECTL_TASK_QUEUE` (or `pipectl`). */
    taskQueue: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,200}$/, 'a task queue is letters, digits, _, . and -')
      .optional(),
    /** Where to POST a JSON message when a run of this pipeline fails (or succeeds, with `on`). */
    notify: NotifyTargets.optional(),
    /** Team or person who owns it. */
    owner: z.string().optional(),
    /** Free tags for search and grouping. */
    tags: z.array(z.string().min(1)).default([]),
    /** Reads the window's rows. */
    extract: stepOrFunction<typeof ExtractStep, ExtractFn>(
      ExtractStep,
      'postgres.query, file.read',
      "postgres.query({...}), csv.read('...'), or async (ctx) => rows",
    ),
    /** Turns extracted rows into loaded rows; absent means rows pass through unchanged. */
    transform: z
      .custom<TransformFn>((v) => typeof v === 'function', {
        message: 'transform must be a function (rows, ctx) => rows',
      })
      .optional(),
    /** Turns each extracted row into rows to load, streamed chunk by chunk; instead of `transform`. */
    transformRow: z
      .custom<TransformRowFn>((v) => typeof v === 'function', {
        message: 'transformRow must be a function (row, ctx) => row, rows or null',
      })
      .optional(),
    /**
     * Worker threads a `transformRow` spreads a staged window's chunks over (default 1: the row transform runs on the
     * worker's own thread). Each thread loads the definition file and keeps its own module state, so a transform that
     * carries state from row to row must keep 1. Only for pipelines loaded from a definition file.
     */
    transformThreads: z.number().int().min(1).max(64).default(1),
    /**
     * Start the load together with the transform, and write each chunk the transform stages as soon as it has
     * committed, instead of after the transform ends: the load's database work overlaps the transform's. The load
     * still commits once, after the transform's last chunk, in one transaction; when the transform is retried, the
     * load undoes what it wrote and starts over on the new attempt's output. The load's time limit then covers the
     * transform's time too (its timeout is the transform's plus the load's). Needs a transform.
     */
    overlapLoad: z.boolean().default(false),
    /** Writes the rows. */
    load: stepOrFunction<typeof LoadStep, LoadFn>(
      LoadStep,
      'postgres.load, file.write',
      "postgres.upsert({...}), postgres.replace({...}), csv.write('...'), or async (rows, ctx) => count",
    ),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.transform && p.transformRow) {
      ctx.addIssue({ code: 'custom', path: ['transformRow'], message: 'give transform or transformRow, not both' });
    }
    if (p.overlapLoad && p.localSteps === 'fused') {
      ctx.addIssue({
        code: 'custom',
        path: ['overlapLoad'],
        message:
          "overlapLoad runs the load alongside the transform as a step of its own; localSteps 'fused' runs the steps " +
          'one after the other in one activity: leave one of them off',
      });
    }
    if (p.overlapLoad && !p.transform && !p.transformRow) {
      ctx.addIssue({
        code: 'custom',
        path: ['overlapLoad'],
        message: 'overlapLoad runs the load alongside the transform: give transform or transformRow, or leave it off',
      });
    }
    if (p.transformThreads > 1 && !p.transformRow) {
      ctx.addIssue({
        code: 'custom',
        path: ['transformThreads'],
        message: 'transformThreads spreads a transformRow over threads: give transformRow, or leave it at 1',
      });
    }
  });
export type PipelineSpec = z.infer<typeof PipelineSpec>;
/** What a user writes: the schema's input, with functions typed. */
export type PipelineInput = Omit<z.input<typeof PipelineSpec>, 'extract' | 'transform' | 'transformRow' | 'load'> & {
  extract: ExtractStep | z.input<typeof ExtractStep> | ExtractFn;
  transform?: TransformFn;
  transformRow?: TransformRowFn;
  load: LoadStep | z.input<typeof LoadStep> | LoadFn;
};

/** Marks objects made by `definePipeline`; a registry symbol so it survives two copies of pipectl being loaded. */
export const PIPELINE_MARK = Symbol.for('pipectl.pipeline');

/** A definition as returned by `definePipeline`, not yet validated. */
export type PipelineDefinition = PipelineInput & { readonly [PIPELINE_MARK]: true };

/** True for values made by `definePipeline`. */
export function isPipelineDefinition(value: unknown): value is PipelineDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PIPELINE_MARK] === true;
}

/**
 * What `pipectl dev` hands to an optional `_setup.ts` beside the definitions (export `setup`): a chance to create
 * tables and seed local data before the first runs.
 */
export interface DevSetupContext {
  /** The pool of a named connection (embedded PostgreSQL in development). */
  postgres(connection: string): Promise<Pool>;
  /** The state folder (`.pipectl`). */
  stateDir: string;
  /** Base folder of relative paths in file steps (`PIPECTL_FILES_DIR`; `.pipectl/files` under `pipectl dev`). */
  filesDir: string;
  /** Prints a line for the user. */
  log(line: string): void;
}
