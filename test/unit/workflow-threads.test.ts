import { withoutLoader, withoutLoaderInThreads } from '../../workers/workflow-threads';

describe('withoutLoader', () => {
  it('drops the options that load tsx, however they are written, and keeps the rest', () => {
    expect(
      withoutLoader([
        '--require',
        '/app/node_modules/tsx/dist/preflight.cjs',
        '--import',
        'file:///app/node_modules/tsx/dist/loader.mjs',
        '--max-old-space-size=4096',
        '--import=tsx',
        '-r',
        'tsx/cjs',
        '--import',
        './telemetry.mjs',
        '--enable-source-maps',
      ]),
    ).toEqual(['--max-old-space-size=4096', '--import', './telemetry.mjs', '--enable-source-maps']);
    expect(withoutLoader(['--import', 'tsxfoo', '--require=./tsx-helpers.js'])).toEqual([
      '--import',
      'tsxfoo',
      '--require=./tsx-helpers.js',
    ]);
  });
});

describe('withoutLoaderInThreads', () => {
  const original = process.execArgv;
  afterEach(() => {
    process.execArgv = original;
  });

  it('hides the loader while workers are created together, and gives the options back after the last', async () => {
    process.execArgv = ['--import', 'tsx', '--trace-warnings'];
    const seen: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = withoutLoaderInThreads(async () => {
      await gate;
      seen.push(process.execArgv);
    });
    const second = withoutLoaderInThreads(async () => {
      seen.push(process.execArgv);
    });
    await second;
    expect(process.execArgv).toEqual(['--trace-warnings']);
    release();
    await first;
    expect(seen).toEqual([['--trace-warnings'], ['--trace-warnings']]);
    expect(process.execArgv).toEqual(['--import', 'tsx', '--trace-warnings']);
  });

  it('gives the options back when creating fails', async () => {
    process.execArgv = ['--import', 'tsx'];
    await expect(withoutLoaderInThreads(() => Promise.reject(new Error('no server')))).rejects.toThrow('no server');
    expect(process.execArgv).toEqual(['--import', 'tsx']);
  });
});
