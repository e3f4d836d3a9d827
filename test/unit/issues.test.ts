import { CatalogError, formatIssue } from '../../catalog/issues';

describe('formatIssue', () => {
  it('puts the file, pipeline and field before the message', () => {
    expect(
      formatIssue({
        file: 'pipelines/orders.ts',
        pipeline: 'orders_daily',
        field: 'retry.maximumAttempts',
        message: 'maximumAttempts must be at least 1',
      }),
    ).toBe("pipelines/orders.ts: pipeline 'orders_daily': retry.maximumAttempts: maximumAttempts must be at least 1");
  });

  it('leaves out what is not known', () => {
    expect(formatIssue({ file: 'pipelines/broken.ts', message: 'cannot load the file: boom' })).toBe(
      'pipelines/broken.ts: cannot load the file: boom',
    );
    expect(formatIssue({ file: 'a.ts', field: 'name', message: 'name is required' })).toBe(
      'a.ts: name: name is required',
    );
    expect(formatIssue({ file: 'a.ts', pipeline: 'a', message: 'unknown field retires' })).toBe(
      "a.ts: pipeline 'a': unknown field retires",
    );
  });
});

describe('CatalogError', () => {
  it('counts the problems and lists each on its own line', () => {
    const err = new CatalogError([
      { file: 'a.ts', pipeline: 'a', field: 'name', message: 'one' },
      { file: 'b.ts', message: 'two' },
    ]);
    expect(err.name).toBe('CatalogError');
    expect(err.message).toBe("2 problems in the pipeline definitions:\n  a.ts: pipeline 'a': name: one\n  b.ts: two");
    expect(err.issues).toHaveLength(2);
  });

  it('uses the singular for one problem', () => {
    expect(new CatalogError([{ file: 'a.ts', message: 'x' }]).message).toMatch(
      /^1 problem in the pipeline definitions:\n/,
    );
  });
});
