import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'definitions');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pipectl <args>` from the repository root, as a user would, with stdout and stderr piped (not a TTY). */
function pipectl(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = { ...process.env };
  delete base.PIPECTL_PIPELINES_DIR;
  delete base.NO_COLOR;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'pipectl.js'), ...args],
      { cwd: ROOT, env: { ...base, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        // A numeric code is the CLI's exit status; anything else (no node, a timeout) is the test's own failure.
        if (err && typeof err.code !== 'number') reject(new Error(`pipectl ${args.join(' ')}: ${err.message}`));
        else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The shape `validate --json` prints. */
interface ValidateJson {
  valid: boolean;
  dir: string;
  pipelines: { name: string; file: string }[];
  externalDatasets: { dataset: string; readers: string[] }[];
  issues: { file: string; pipeline?: string; field?: string; message: string }[];
}

const fixture = (folder: string) => join('test', 'fixtures', 'definitions', folder);

describe('pipectl validate: valid definitions', () => {
  it('exits 0 and summarises the pipelines, dependencies and external datasets', async () => {
    const r = await pipectl(['validate', '--dir', fixture('valid')]);
    expect(r).toEqual({
      code: 0,
      stdout:
        `✓ 3 pipelines valid in ${join(FIXTURES, 'valid')} (2 dependencies)\n` +
        '  external dataset raw.orders (read by orders_daily)\n' +
        '  external dataset files.refunds (read by refunds)\n',
      stderr: '',
    });
  });

  it('prints the catalog as JSON with --json', async () => {
    const r = await pipectl(['validate', '--dir', fixture('valid'), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const json = JSON.parse(r.stdout) as ValidateJson;
    expect(json).toEqual({
      valid: true,
      dir: join(FIXTURES, 'valid'),
      pipelines: [
        { name: 'orders_daily', file: join(fixture('valid'), 'orders_daily.ts') },
        { name: 'refunds', file: join(fixture('valid'), 'reports.ts') },
        { name: 'revenue_report', file: join(fixture('valid'), 'reports.ts') },
      ],
      externalDatasets: [
        { dataset: 'raw.orders', readers: ['orders_daily'] },
        { dataset: 'files.refunds', readers: ['refunds'] },
      ],
      issues: [],
    });
  });

  it("accepts the repository's own pipelines/ folder, by default and with --dir, listing its external datasets", async () => {
    for (const args of [['validate'], ['validate', '--dir', 'pipelines']]) {
      const r = await pipectl(args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(
        new RegExp(`^✓ 4 pipelines valid in ${join(ROOT, 'pipelines')} \\(\\d+ dependenc(y|ies)\\)\\n`),
      );
      expect(r.stdout).toContain('  external dataset raw.orders (read by orders_daily)\n');
      expect(r.stdout).toContain('  external dataset files.refunds (read by refunds)\n');
    }
    const json = JSON.parse((await pipectl(['validate', '--json'])).stdout) as ValidateJson;
    expect(json.valid).toBe(true);
    expect(json.pipelines.map((p) => p.name).sort()).toEqual([
      'customer_ltv',
      'orders_daily',
      'refunds',
      'revenue_report',
    ]);
    expect(json.externalDatasets.map((d) => d.dataset).sort()).toEqual(['files.refunds', 'raw.orders']);
  });

  it('reads the folder from PIPECTL_PIPELINES_DIR, which --dir overrides', async () => {
    const fromEnv = await pipectl(['validate', '--json'], { PIPECTL_PIPELINES_DIR: fixture('valid') });
    expect((JSON.parse(fromEnv.stdout) as ValidateJson).dir).toBe(join(FIXTURES, 'valid'));
    const overridden = await pipectl(['validate', '--dir', fixture('bad-name')], {
      PIPECTL_PIPELINES_DIR: fixture('valid'),
    });
    expect(overridden.code).toBe(1);
    expect(overridden.stderr).toContain(join(fixture('bad-name'), 'pipeline.ts'));
  });
});

describe('pipectl validate: mistakes', () => {
  it.each([
    [
      'retry-zero-attempts',
      "pipeline.ts: pipeline 'orders': retry.maximumAttempts: maximumAttempts must be at least 1",
    ],
    ['bad-connection', "pipeline.ts: pipeline 'orders': extract.connection: a connection name is lower-case letters"],
    ['bad-table', "pipeline.ts: pipeline 'orders': load.table: a table is `table` or `schema.table`"],
    ['bad-timezone', "pipeline.ts: pipeline 'orders': schedule.timezone: unknown time zone"],
    ['missing-name', 'pipeline.ts: name: name is required'],
    ['unknown-field', "pipeline.ts: pipeline 'orders': retires: unknown field"],
    ['unknown-depends-on', "pipeline.ts: pipeline 'orders': dependsOn: unknown pipeline 'orders_raw'"],
    ['cycle-depends-on', "a.ts: pipeline 'a': dependsOn: cycle: a → b → c → a"],
    ['duplicate-name', "second.ts: pipeline 'orders': name: duplicate name: 'orders' is also defined in"],
    ['throws-on-load', 'pipeline.ts: cannot load the file: PIPECTL_FIXTURE_NEVER_SET is not set'],
  ])('exits 1 for %s, naming the file, pipeline and field on stderr', async (folder, line) => {
    const r = await pipectl(['validate', '--dir', fixture(folder)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(`1 problem in ${join(FIXTURES, folder)}:`);
    expect(lines[1]).toMatch(new RegExp(`^  ${escapeRegExp(join(fixture(folder), line))}`));
    expect(lines.slice(2)).toEqual(['']);
  });

  it('lists every problem, one per line, without colour when not on a terminal', async () => {
    const r = await pipectl(['validate', '--dir', fixture('invalid-upstream')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^\d+ problems? in /);
    expect(r.stderr).toContain(
      `  ${join(fixture('invalid-upstream'), 'upstream.ts')}: pipeline 'upstream': retry.maximumAttempts: maximumAttempts must be at least 1\n`,
    );
    expect(r.stderr).not.toContain('\u001b[');
  });

  it('prints the issues as JSON with --json, and still exits 1', async () => {
    const r = await pipectl(['validate', '--dir', fixture('upsert-without-key'), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      valid: false,
      dir: join(FIXTURES, 'upsert-without-key'),
      pipelines: [],
      externalDatasets: [],
      issues: [
        {
          file: join(fixture('upsert-without-key'), 'pipeline.ts'),
          pipeline: 'orders',
          field: 'load.key',
          message: "mode 'upsert' needs key: the columns that identify a row",
        },
      ],
    });
  });

  it('lists the valid pipelines of an invalid folder in --json', async () => {
    const json = JSON.parse(
      (await pipectl(['validate', '--dir', fixture('cycle-datasets'), '--json'])).stdout,
    ) as ValidateJson;
    expect(json.valid).toBe(false);
    expect(json.pipelines.map((p) => p.name)).toEqual(['a', 'b', 'c']);
    expect(json.externalDatasets).toEqual([]);
    expect(json.issues).toEqual([
      expect.objectContaining({
        pipeline: 'a',
        field: 'inputs',
        message: 'cycle: a → b → c → a (through dataset files.c)',
      }),
    ]);
  });

  it('exits 1 for a folder that does not exist', async () => {
    const r = await pipectl(['validate', '--dir', fixture('no-such-folder')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read the pipelines folder: ENOENT');
  });

  describe('in a temporary folder', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'pipectl-validate-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('exits 1 for a file with a syntax error, naming the file', async () => {
      writeFileSync(
        join(dir, 'broken.ts'),
        "import { definePipeline } from 'pipectl';\nexport default definePipeline({ name: 'x',\n",
      );
      const r = await pipectl(['validate', '--dir', dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/broken\.ts: cannot load the file: /);
    });

    // BUG (catalog/load.ts readCatalog): only the first line of the load error is kept, and for tsx/esbuild that is
    // "Transform failed with 1 error:", so the user learns neither what is wrong nor where. Flip to `it` once fixed.
    it('says what the syntax error is and where', async () => {
      writeFileSync(
        join(dir, 'broken.ts'),
        "import { definePipeline } from 'pipectl';\nexport default definePipeline({ name: 'x',\n",
      );
      const r = await pipectl(['validate', '--dir', dir]);
      expect(r.stderr).toMatch(/broken\.ts:\d+:\d+/);
      expect(r.stderr).toMatch(/expected/i);
    });

    it('exits 1 for a folder without definitions', async () => {
      mkdirSync(join(dir, 'empty'));
      const r = await pipectl(['validate', '--dir', join(dir, 'empty')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no pipeline definitions under ${join(dir, 'empty')}`);
    });

    // BUG (cli/commands/validate.ts): for an empty folder the success line "✓ 0 pipelines valid" is printed before the
    // empty check, and --json says "valid": true while the exit code is 1. Flip to `it` once fixed.
    it('does not claim success for a folder without definitions', async () => {
      const text = await pipectl(['validate', '--dir', dir]);
      expect(text.stdout).not.toContain('valid');
      const json = await pipectl(['validate', '--dir', dir, '--json']);
      expect((JSON.parse(json.stdout) as ValidateJson).valid).toBe(false);
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
