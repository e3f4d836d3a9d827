import { mapConcurrently } from '../../cli/concurrency';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('keeps the order of the items and never has more than the limit in flight', async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapConcurrently([30, 5, 20, 1, 10, 2, 8], 3, async (ms, i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await tick(ms);
    inFlight--;
    return `${i}:${ms}`;
  });
  expect(out).toEqual(['0:30', '1:5', '2:20', '3:1', '4:10', '5:2', '6:8']);
  expect(peak).toBe(3);
});

test('the first failure rejects after the running calls settle, and starts nothing new', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  const run = mapConcurrently([0, 1, 2, 3, 4, 5], 2, async (n) => {
    started.push(n);
    await tick(n === 1 ? 1 : 10);
    if (n === 1) throw new Error('item 1 failed');
    finished.push(n);
    return n;
  });
  await expect(run).rejects.toThrow('item 1 failed');
  expect(started).toEqual([0, 1]);
  expect(finished).toEqual([0]);
});

test('an empty list gives an empty result', async () => {
  await expect(mapConcurrently([], 4, async () => 1)).resolves.toEqual([]);
});
