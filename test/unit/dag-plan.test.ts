import { restartStates, expandDagState, type DagRunSnapshot } from '../../core/dag-input';
import { countDescendants, DagPlan, topoOrder, type DagNode } from '../../core/dag-plan';
import { covers } from '../../activities/upstream';
import { parseWindow } from '../../core/window';

/** Nodes from `name: upstream names` pairs, with descendant counts computed. */
function nodes(spec: Record<string, string[]>): DagNode[] {
  const names = Object.keys(spec);
  const index = new Map(names.map((n, i) => [n, i]));
  const upstream = names.map((n) => spec[n]!.map((u) => index.get(u)!));
  const descendants = countDescendants(upstream);
  return names.map((n, i) => [n, upstream[i]!, descendants[i]!, 0]);
}

const diamond = nodes({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'], e: [] });

function drain(plan: DagPlan): number[] {
  const out: number[] = [];
  for (let i = plan.take(); i >= 0; i = plan.take()) out.push(i);
  return out;
}

test('topoOrder puts upstreams first and rejects a cycle', () => {
  expect(topoOrder([[], [0], [0], [1, 2]])).toEqual([0, 1, 2, 3]);
  expect(() => topoOrder([[1], [0]])).toThrow('cycle');
});

test('countDescendants counts each downstream node once, across diamonds', () => {
  expect(countDescendants(diamond.map((n) => n[1]))).toEqual([3, 1, 1, 0, 0]);
  // A 200-wide, 50-deep layered DAG, every node linked to two nodes of the layer above.
  const layered: number[][] = [];
  for (let l = 0; l < 50; l++)
    for (let k = 0; k < 200; k++) layered.push(l === 0 ? [] : [(l - 1) * 200 + k, (l - 1) * 200 + ((k + 1) % 200)]);
  const counts = countDescendants(layered);
  expect(counts[0]).toBeGreaterThan(counts[200]!);
  expect(counts[49 * 200]).toBe(0);
});

test('ready nodes come most descendants first, then by name; finishing one frees its downstream', () => {
  const plan = new DagPlan(diamond, undefined, 1000);
  expect(drain(plan).map((i) => plan.names[i])).toEqual(['a', 'e']);
  plan.begin(0, 'running', 1000);
  plan.finish(0, 'succeeded', 1500);
  expect(drain(plan).map((i) => plan.names[i])).toEqual(['b', 'c']);
  plan.finish(1, 'succeeded', 1600);
  expect(plan.take()).toBe(-1);
  plan.finish(2, 'succeeded', 1700);
  expect(plan.take()).toBe(3);
});

test('a failure marks everything downstream upstream_failed; a retry re-plans it', () => {
  const plan = new DagPlan(diamond, undefined, 0);
  drain(plan);
  plan.begin(0, 'running', 0);
  plan.errors.set(0, { type: 'Boom', message: 'boom' });
  plan.finish(0, 'failed', 10);
  expect(plan.state).toEqual(['failed', 'upstream_failed', 'upstream_failed', 'upstream_failed', 'pending']);
  expect(plan.hasPending()).toBe(true);
  plan.state[0] = 'pending';
  plan.errors.delete(0);
  plan.replan();
  expect(plan.state.slice(0, 4)).toEqual(['pending', 'pending', 'pending', 'pending']);
  expect(plan.take()).toBe(0);
});

test('a skipped node lets its downstream run', () => {
  const plan = new DagPlan(diamond, undefined, 0);
  drain(plan);
  plan.finish(0, 'skipped', 5);
  expect(drain(plan).map((i) => plan.names[i])).toEqual(['b', 'c']);
});

test('packed states survive a round trip and expand to names, ISO times and workflow IDs', () => {
  const plan = new DagPlan(diamond, undefined, Date.parse('2026-11-21T00:00:00Z'));
  plan.begin(0, 'running', Date.parse('2026-11-21T00:00:01Z'));
  plan.rowsLoaded[0] = 42;
  plan.finish(0, 'succeeded', Date.parse('2026-11-21T00:00:03Z'));
  plan.begin(1, 'running', Date.parse('2026-11-21T00:00:04Z'));
  plan.errors.set(1, { type: 'Boom', message: 'boom' });
  plan.finish(1, 'failed', Date.parse('2026-11-21T00:00:05Z'));
  const packed = plan.pack();
  const again = new DagPlan(diamond, JSON.parse(JSON.stringify(packed)), 0);
  expect(again.pack()).toEqual(packed);
  expect(again.state).toEqual(['succeeded', 'failed', 'pending', 'upstream_failed', 'pending']);

  const window = parseWindow('2026-11-20');
  const snapshot: DagRunSnapshot = {
    window,
    group: 'manual',
    kind: 'manual',
    paused: false,
    status: 'failed',
    names: [...again.names],
    states: packed,
  };
  const state = expandDagState(snapshot);
  expect(state.nodes.a).toEqual({
    state: 'succeeded',
    attempts: 1,
    startedAt: '2026-11-21T00:00:01.000Z',
    finishedAt: '2026-11-21T00:00:03.000Z',
    workflowId: 'pipeline/a/2026-11-20T00:00:00.000Z',
    rowsLoaded: 42,
  });
  expect(state.nodes.b!.error).toEqual({ type: 'Boom', message: 'boom' });
  expect(state.nodes.e).toEqual({ state: 'pending', attempts: 0 });

  // A restart keeps what succeeded and starts the rest over.
  const restarted = new DagPlan(diamond, restartStates(snapshot), 0);
  expect(restarted.state).toEqual(['succeeded', 'pending', 'pending', 'pending', 'pending']);
  expect(restarted.errors.size).toBe(0);
  expect(drain(restarted).map((i) => restarted.names[i])).toEqual(['b', 'c', 'e']);
});

test('10,000 packed node states stay far below the 2 MB payload limit', () => {
  const many = nodes(
    Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`pipeline_${i}`, i > 0 ? [`pipeline_${i - 1}`] : []])),
  );
  const plan = new DagPlan(many, undefined, Date.now());
  for (let i = 0; i < many.length; i++) {
    plan.begin(i, 'running', Date.now());
    plan.rowsLoaded[i] = 1000;
    plan.finish(i, 'succeeded', Date.now() + 60_000);
  }
  const bytes = JSON.stringify({ nodes: many, states: plan.pack() }).length;
  expect(bytes).toBeLessThan(1_000_000);
});

test('covers: intervals together must reach from start to end without a gap', () => {
  expect(covers([[0, 10]], 0, 10)).toBe(true);
  expect(
    covers(
      [
        [0, 5],
        [5, 10],
      ],
      0,
      10,
    ),
  ).toBe(true);
  expect(
    covers(
      [
        [5, 10],
        [0, 6],
      ],
      0,
      10,
    ),
  ).toBe(true);
  expect(
    covers(
      [
        [0, 4],
        [5, 10],
      ],
      0,
      10,
    ),
  ).toBe(false);
  expect(covers([[1, 10]], 0, 10)).toBe(false);
  expect(covers([[-5, 20]], 0, 10)).toBe(true);
  expect(covers([], 0, 10)).toBe(false);
});
