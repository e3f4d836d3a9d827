import { csv, definePipeline } from 'pipectl';
import { notificationText, runUrl, webUiBaseUrl, type NotificationRequest } from '../../activities/notify';
import { buildDagInput } from '../../cli/dag';
import { buildGraph } from '../../core/graph';
import { buildGroups, scheduleKey } from '../../core/groups';
import { PipelineSpec, ScheduleSpec } from '../../core/pipeline-spec';
import { toRunInput } from '../../core/run-input';
import { parseWindow } from '../../core/window';
import { catalogOf } from '../helpers/catalog';

const base = { name: 'orders', extract: csv.read('data/orders.csv'), load: csv.write('out/orders.csv') };
const hook = 'https://hooks.example.com/services/T000/B000/xyz';
const window = parseWindow('2026-11-20');

/** The issues of an invalid spec as `field: message` lines. */
function problems(value: Record<string, unknown>): string[] {
  const parsed = PipelineSpec.safeParse({ ...base, ...value });
  if (parsed.success) throw new Error('expected the spec to be invalid');
  return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('notify in a pipeline definition', () => {
  it('reads one target into a list, sending failures by default', () => {
    expect(PipelineSpec.parse({ ...base, notify: { url: hook } }).notify).toEqual([{ url: hook, on: ['failure'] }]);
  });

  it('keeps a list of targets with their outcomes and headers', () => {
    const spec = PipelineSpec.parse({
      ...base,
      notify: [
        { url: hook, on: ['failure', 'success'] },
        { url: 'http://localhost:9000/hook', on: ['success'], headers: { Authorization: 'Bearer t' } },
      ],
    });
    expect(spec.notify).toEqual([
      { url: hook, on: ['failure', 'success'] },
      { url: 'http://localhost:9000/hook', on: ['success'], headers: { Authorization: 'Bearer t' } },
    ]);
  });

  it('is absent when not given', () => {
    expect(PipelineSpec.parse(base).notify).toBeUndefined();
  });

  it('reports a bad target at its field', () => {
    const notHttp = 'a notification url is an http:// or https:// URL, e.g. https://hooks.slack.com/services/…';
    expect(problems({ notify: { url: 'ftp://files.example.com/x' } })).toEqual([`notify.url: ${notHttp}`]);
    expect(problems({ notify: { url: 'hooks.example.com/x' } })).toEqual([`notify.url: ${notHttp}`]);
    expect(problems({ notify: [{ url: hook }, { url: 'mailto:ops@example.com' }] })).toEqual([
      `notify.1.url: ${notHttp}`,
    ]);
    expect(problems({ notify: {} })).toEqual(['notify.url: url is required']);
    expect(problems({ notify: { url: hook, channel: '#data' } })).toEqual(['notify.channel: unknown field']);
    expect(problems({ notify: { url: hook, on: ['always'] } })).toEqual([
      expect.stringMatching(/^notify\.on\.0: .*failure.*success/),
    ]);
    expect(problems({ notify: { url: hook, on: [] } })).toEqual([
      "notify.on: on needs at least one of 'failure', 'success' (remove the target to send nothing)",
    ]);
    expect(problems({ notify: { url: hook, headers: { 'Bad Header': 'x' } } })).toEqual([
      'notify.headers.Bad Header: a header name is letters, digits and - (e.g. Authorization)',
    ]);
    expect(problems({ notify: { url: hook, headers: { 'X-Token': 'a\nb' } } })).toEqual([
      'notify.headers.X-Token: a header value is one line',
    ]);
    expect(problems({ notify: hook })).toEqual([
      "notify: a notification target is { url, on?: ['failure'], headers? }",
    ]);
  });

  it('travels in the run input only when set', () => {
    const without = toRunInput(PipelineSpec.parse(base), window, 'manual');
    expect('notify' in without).toBe(false);
    const withTarget = toRunInput(PipelineSpec.parse({ ...base, notify: { url: hook } }), window, 'manual');
    expect(withTarget.notify).toEqual([{ url: hook, on: ['failure'] }]);
  });
});

describe('notify on a group (schedule.notify)', () => {
  const target = { url: hook, on: ['failure' as const] };
  const specsOf = (defs: Record<string, unknown>[]) => {
    const pipelines = new Map(
      defs.map((d) => [
        d.name as string,
        { spec: PipelineSpec.parse({ ...base, ...d }), file: `${String(d.name)}.ts` },
      ]),
    );
    return buildGroups(pipelines, buildGraph([...pipelines.values()].map((e) => e.spec)));
  };

  it('is validated like a pipeline target', () => {
    const parsed = ScheduleSpec.safeParse({ every: 'daily', notify: { url: 'nope' } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toEqual(['notify.url']);
  });

  it('is not part of when a schedule fires', () => {
    expect(scheduleKey(ScheduleSpec.parse({ every: 'daily', notify: { url: hook } }))).toBe(
      scheduleKey(ScheduleSpec.parse({ every: 'daily' })),
    );
  });

  it('is taken from any member of the group; the same on each is fine; different ones are an issue', () => {
    const one = specsOf([
      { name: 'a', schedule: { every: 'daily', group: 'nightly', notify: { url: hook } } },
      { name: 'b', schedule: { every: 'daily', group: 'nightly' } },
    ]);
    expect(one.issues).toEqual([]);
    expect(one.groups.get('nightly')).toMatchObject({ scheduled: ['a', 'b'], notify: [target] });

    const same = specsOf([
      { name: 'a', schedule: { every: 'daily', group: 'nightly', notify: { url: hook } } },
      { name: 'b', schedule: { every: 'daily', group: 'nightly', notify: [{ url: hook, on: ['failure'] }] } },
    ]);
    expect(same.issues).toEqual([]);

    const clash = specsOf([
      { name: 'a', schedule: { every: 'daily', group: 'nightly', notify: { url: hook } } },
      { name: 'b', schedule: { every: 'daily', group: 'nightly', notify: { url: hook, on: ['success'] } } },
    ]);
    expect(clash.issues).toEqual([
      {
        pipeline: 'b',
        field: 'schedule.notify',
        message: "group 'nightly' has another notify in 'a': set it on one pipeline of the group, or the same on each",
      },
    ]);
  });

  it("goes into the group's DAG run input, and each pipeline's own targets into its run profile", () => {
    const fn = { extract: () => [], load: () => 0 };
    const catalog = catalogOf([
      definePipeline({ name: 'a', schedule: { every: 'daily', group: 'nightly', notify: { url: hook } }, ...fn }),
      definePipeline({ name: 'b', dependsOn: ['a'], notify: { url: hook, on: ['success'] }, ...fn }),
      definePipeline({ name: 'c', schedule: { every: 'hourly' }, ...fn }),
    ]);
    const group = buildDagInput(catalog, ['a', 'b'], window, 'scheduled', 'q', { group: 'nightly' });
    expect(group.notify).toEqual([target]);
    expect(group.profiles).toHaveLength(2);
    const profileOf = (name: string) => group.profiles[group.nodes.find((n) => n[0] === name)![3]]!;
    expect(profileOf('a').notify).toBeUndefined();
    expect(profileOf('b').notify).toEqual([{ url: hook, on: ['success'] }]);
    // A list of pipelines run by hand is no group's run: the group is not notified.
    expect('notify' in buildDagInput(catalog, ['a', 'b'], window, 'manual', 'q')).toBe(false);
    expect('notify' in buildDagInput(catalog, ['c'], window, 'scheduled', 'q', { group: 'hourly-utc' })).toBe(false);
  });
});

describe('the notification text', () => {
  const link = runUrl('http://localhost:8233', 'default', 'pipeline/orders/2026-11-20T00:00:00.000Z', 'r1');
  const about = { target: { url: hook, on: ['failure' as const] }, window };

  it('links the run in the Web UI', () => {
    expect(link).toBe(
      'http://localhost:8233/namespaces/default/workflows/pipeline%2Forders%2F2026-11-20T00%3A00%3A00.000Z/r1/history',
    );
    expect(webUiBaseUrl({ PIPECTL_UI_PORT: '9999' })).toBe('http://localhost:9999');
    expect(webUiBaseUrl({ PIPECTL_WEB_UI_URL: 'https://temporal.example.com/' })).toBe('https://temporal.example.com');
    expect(() => webUiBaseUrl({ PIPECTL_WEB_UI_URL: 'temporal.example.com' })).toThrow(/PIPECTL_WEB_UI_URL/);
  });

  it('says what failed, for which window, and why, escaping the markup', () => {
    const req: NotificationRequest = {
      ...about,
      pipeline: 'orders',
      outcome: 'failure',
      error: { type: 'SourceGone', message: 'extractRows: column <amount> is gone' },
    };
    expect(notificationText(req, link)).toBe(
      `:x: orders failed for 2026-11-20 → 2026-11-21: extractRows: column &lt;amount&gt; is gone <${link}|open in Temporal>`,
    );
    expect(notificationText({ ...about, pipeline: 'orders', outcome: 'success', rowsLoaded: 12 }, link)).toBe(
      `:white_check_mark: orders succeeded for 2026-11-20 → 2026-11-21: 12 rows loaded <${link}|open in Temporal>`,
    );
  });

  it("summarises a group's DAG run", () => {
    const counts = {
      pending: 0,
      waiting: 0,
      running: 0,
      succeeded: 2,
      failed: 1,
      upstream_failed: 1,
      skipped: 0,
      cancelled: 0,
    };
    const failed = [{ pipeline: 'b', error: { type: 'Error', message: 'extractRows: boom' } }];
    const req: NotificationRequest = {
      ...about,
      group: 'nightly',
      outcome: 'failure',
      summary: { total: 4, counts, failed },
    };
    expect(notificationText(req, link)).toBe(
      `:x: group nightly failed for 2026-11-20 → 2026-11-21: 1 of 4 pipelines failed (b: extractRows: boom), 1 not run <${link}|open in Temporal>`,
    );
  });
});
