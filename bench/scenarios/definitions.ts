/**
 * A folder of generated pipeline definition files, as a data team keeps them: one file per pipeline, importing
 * `pipectl` from its own node_modules (a link to this repository, so the compiled package is what loads).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../harness';

/** Schedules several pipelines share (each becomes one group, one Temporal Schedule). */
const SHARED: Record<string, unknown>[] = [
  { every: 'daily', at: '04:00', timezone: 'Europe/Paris' },
  { every: 'hourly', at: ':15' },
  { every: '15 minutes' },
  { every: 'weekly', at: 'Mon 07:00' },
  { cron: '0 6 * * 1-5' },
  { every: 'daily', at: '02:00' },
  { every: 'daily', at: '06:00', timezone: 'America/New_York' },
  { every: 'monthly', at: '1 03:00' },
  { every: '1 hour', at: ':45', timezone: 'Europe/Paris' },
  { every: 'daily', at: '23:30', timezone: 'Asia/Tokyo', group: 'tokyo-nightly' },
];
const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo'];
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const hhmm = (minutes: number) =>
  `${String(Math.floor(minutes / 60) % 24).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** The k-th schedule no other pipeline has: daily, hourly with an hours filter, weekly, cron or monthly. */
function distinctSchedule(k: number): Record<string, unknown> {
  const j = Math.floor(k / 5);
  switch (k % 5) {
    case 0:
      return { every: 'daily', at: hhmm((j * 37) % 1440), timezone: ZONES[j % ZONES.length] };
    case 1:
      return { every: 'hourly', at: `:${String(j % 60).padStart(2, '0')}`, hours: [Math.floor(j / 60) % 24, 23] };
    case 2:
      return { every: 'weekly', at: `${DAYS[j % 7]} ${hhmm((j * 13) % 1440)}` };
    case 3:
      return { cron: `${j % 60} ${(j * 7) % 24} * * 1-5` };
    default:
      return { every: 'monthly', at: `${1 + (j % 28)} ${hhmm((j * 11) % 1440)}` };
  }
}

/** What the generated folder holds. */
export interface DefinitionsFolder {
  dir: string;
  pipelines: number;
  /** Pipelines on a shared schedule, on one of their own, and downstream (no schedule). */
  shared: number;
  distinct: number;
  downstream: number;
}

/**
 * Writes `count` definitions into `dir`: of every ten, three on one of ten shared schedules, six on a schedule of
 * their own, one without a schedule, downstream of the pipeline before it (it joins that pipeline's group).
 */
export function writeDefinitions(dir: string, count: number, prefix = 'bench'): DefinitionsFolder {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'pipectl'), 'dir');
  const width = String(count - 1).length;
  const name = (i: number) => `${prefix}_p${String(i).padStart(width, '0')}`;
  let shared = 0;
  let distinct = 0;
  let downstream = 0;
  for (let i = 0; i < count; i++) {
    const r = i % 10;
    let schedule: Record<string, unknown> | undefined;
    if (r < 3) schedule = SHARED[(Math.floor(i / 10) * 3 + r) % SHARED.length];
    else if (r < 9 || i === 0) schedule = distinctSchedule(distinct);
    if (r < 3) shared++;
    else if (schedule) distinct++;
    else downstream++;
    const fields = [
      `name: '${name(i)}'`,
      `description: 'Generated pipeline ${i} of ${count}'`,
      ...(schedule ? [`schedule: ${JSON.stringify(schedule)}`] : [`inputs: ['${prefix}.p${i - 1}']`]),
      `outputs: ['${prefix}.p${i}']`,
      `owner: 'team-${i % 7}'`,
      `tags: ['generated', 'batch-${i % 4}']`,
      'extract: () => [{ n: 1 }]',
      'load: (rows) => rows.length',
    ];
    writeFileSync(
      join(dir, `${name(i)}.ts`),
      `import { definePipeline } from 'pipectl';\n\nexport default definePipeline({\n  ${fields.join(',\n  ')},\n});\n`,
    );
  }
  return { dir, pipelines: count, shared, distinct, downstream };
}
