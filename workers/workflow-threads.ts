/** Options that load a module before the program, taking it as the next argument or after `=`. */
const MODULE_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
/** The TypeScript loader pipectl runs its sources with, by package name or path. */
const TSX = /^(tsx(\/.*)?|.*[\\/]node_modules[\\/]tsx[\\/].*)$/;

/** Node options without those that load tsx. */
export function withoutLoader(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (MODULE_FLAGS.has(arg) && TSX.test(execArgv[i + 1] ?? '')) {
      i++;
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0 && MODULE_FLAGS.has(arg.slice(0, eq)) && TSX.test(arg.slice(eq + 1))) continue;
    out.push(arg);
  }
  return out;
}

/** Workers being created now, and the Node options to give back once they all are. */
let creating = 0;
let inherited: string[] = [];

/**
 * Calls `create` (a `Worker.create`) with the TypeScript loader left out of the Node options new threads inherit, so
 * the SDK's workflow threads start without it. They run the workflow bundle, plain JavaScript, and need no loader;
 * under one, every function the workflow sandbox compiles (the SDK compiles one for each promise a workflow creates)
 * also goes through the loader's source-map bookkeeping. A worker run from its TypeScript sources spent about a third
 * more CPU per node of a DAG run of quick pipelines that way. Threads started later (a transform's) register the
 * loader themselves when they need it.
 */
export async function withoutLoaderInThreads<T>(create: () => Promise<T>): Promise<T> {
  // Workers created together (one per task queue) share one change, undone when the last is created.
  if (creating++ === 0) {
    inherited = process.execArgv;
    process.execArgv = withoutLoader(inherited);
  }
  try {
    return await create();
  } finally {
    if (--creating === 0) process.execArgv = inherited;
  }
}
