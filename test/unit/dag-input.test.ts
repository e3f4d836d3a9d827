import { buildDagInput } from '../../cli/dag';
import { parseWindow } from '../../core/window';
import { definePipeline } from '../../index';
import { catalogOf } from '../helpers/catalog';

const fn = { extract: () => [], load: () => 0 };
const catalog = catalogOf([
  definePipeline({ name: 'a', schedule: { every: 'daily', group: 'capped', maxParallel: 2 }, outputs: ['x.a'], ...fn }),
  definePipeline({ name: 'b', inputs: ['x.a'], outputs: ['x.b'], ...fn }),
  definePipeline({ name: 'c', inputs: ['x.b'], retry: { maximumAttempts: 7 }, ...fn }),
  definePipeline({ name: 'd', schedule: { every: 'hourly' }, ...fn }),
]);
const window = parseWindow('2026-11-20');

test('nodes are numbered, upstreams are indices, descendants counted, run options stored once per distinct set', () => {
  const input = buildDagInput(catalog, ['c', 'a', 'b'], window, 'manual', 'q');
  expect(input.nodes).toEqual([
    ['a', [], 2, 0],
    ['b', [0], 1, 0],
    ['c', [1], 0, 1],
  ]);
  expect(input.profiles).toHaveLength(2);
  expect(input.profiles[1]!.retry.maximumAttempts).toBe(7);
  expect(input.waits).toBeUndefined();
});

test("maxParallel comes from the option, else the group's setting, else PIPECTL_MAX_PARALLEL", () => {
  expect(buildDagInput(catalog, ['a', 'b'], window, 'manual', 'q', { group: 'capped' }).maxParallel).toBe(2);
  expect(
    buildDagInput(catalog, ['a', 'b'], window, 'manual', 'q', { group: 'capped', maxParallel: 5 }).maxParallel,
  ).toBe(5);
  expect(buildDagInput(catalog, ['d'], window, 'manual', 'q', { group: 'hourly-utc' }).maxParallel).toBe(8);
});

test("in a group's DAG run, upstreams outside it are waited for; in an explicit list they are not", () => {
  const group = buildDagInput(catalog, ['b', 'c'], window, 'scheduled', 'q', { group: 'capped', upstreamPollMs: 5000 });
  expect(group.waits).toEqual([{ node: 0, upstream: ['a'], timeoutMs: 6 * 3_600_000 }]);
  expect(group.upstreamPollMs).toBe(5000);
  expect(buildDagInput(catalog, ['b', 'c'], window, 'manual', 'q').waits).toBeUndefined();
});
