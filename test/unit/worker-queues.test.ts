import { catalogOf } from '../helpers/catalog';
import { definePipeline } from '../../index';
import { catalogQueues, parseQueueSpec, unservedQueues, workerQueues } from '../../workers/queues';

const noop = { extract: () => [], load: () => 0 };

describe('parseQueueSpec', () => {
  test('a name alone, or a name with its limit of steps', () => {
    expect(parseQueueSpec('light')).toEqual({ name: 'light' });
    expect(parseQueueSpec('heavy:2')).toEqual({ name: 'heavy', maxConcurrentActivities: 2 });
  });

  test('bad values name the option, the value and what is wrong', () => {
    expect(() => parseQueueSpec('heavy:two')).toThrow(
      '--task-queue "heavy:two": the limit after \':\' must be a whole number',
    );
    expect(() => parseQueueSpec('heavy:0')).toThrow('--task-queue "heavy:0": maxConcurrentActivities: at least 1');
    expect(() => parseQueueSpec('has space:2')).toThrow('--task-queue "has space:2": name: a task queue is letters');
    expect(() => parseQueueSpec(':3', 'PIPECTL_WORKER_QUEUES')).toThrow('PIPECTL_WORKER_QUEUES ":3": name');
  });
});

describe('workerQueues', () => {
  test('options first, then PIPECTL_WORKER_QUEUES, then the default queue', () => {
    const env = { PIPECTL_WORKER_QUEUES: 'heavy:2, light' };
    expect(workerQueues(['a:1'], env, 'pipectl')).toEqual([{ name: 'a', maxConcurrentActivities: 1 }]);
    expect(workerQueues(undefined, env, 'pipectl')).toEqual([
      { name: 'heavy', maxConcurrentActivities: 2 },
      { name: 'light' },
    ]);
    expect(workerQueues([], {}, 'pipectl')).toEqual([{ name: 'pipectl' }]);
  });

  test('a queue named twice is refused', () => {
    expect(() => workerQueues(['heavy:2', 'heavy:4'], {}, 'pipectl')).toThrow(
      "--task-queue: task queue 'heavy' is named twice",
    );
  });
});

describe('queues of a catalog', () => {
  const catalog = catalogOf([
    definePipeline({ name: 'small', ...noop }),
    definePipeline({ name: 'big_a', taskQueue: 'heavy', ...noop }),
    definePipeline({ name: 'big_b', taskQueue: 'heavy', ...noop }),
  ]);

  test('an all-in-one worker serves the default queue and every queue a pipeline names', () => {
    expect(catalogQueues(catalog, 'pipectl')).toEqual([{ name: 'pipectl' }, { name: 'heavy' }]);
  });

  test('a worker is told which pipelines need another worker', () => {
    expect(unservedQueues(catalog, [{ name: 'pipectl' }], 'pipectl')).toEqual([
      "note: this worker does not serve task queue 'heavy' (pipelines big_a, big_b); another worker must (pipectl worker --task-queue heavy)",
    ]);
    expect(unservedQueues(catalog, [{ name: 'heavy', maxConcurrentActivities: 1 }], 'pipectl')).toEqual([
      "note: this worker does not serve task queue 'pipectl' (pipelines small); another worker must (pipectl worker --task-queue pipectl)",
    ]);
    expect(unservedQueues(catalog, catalogQueues(catalog, 'pipectl'), 'pipectl')).toEqual([]);
  });
});
