/**
 * Compiles the raw baselines to plain JavaScript in a temporary folder, before anything is timed, so they start with
 * `node` alone as pipectl's compiled CLI does (no TypeScript loader in either measurement).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../../harness';

/** Compiles `raw/<name>.ts` into `outDir/<name>.js`; returns its path. */
export function compileRaw(name: 'raw-sync' | 'raw-worker', outDir: string): string {
  const source = readFileSync(join(__dirname, `${name}.ts`), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  const file = join(outDir, `${name}.js`);
  writeFileSync(file, outputText);
  return file;
}

/** Environment under which a compiled baseline outside the repository finds the repository's packages. */
export function rawEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, NODE_PATH: join(ROOT, 'node_modules') };
}
