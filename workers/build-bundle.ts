import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { packageRoot } from './package-root';

/** Where `npm run build` writes the prebuilt workflow bundle. */
export const BUNDLE_PATH = join(packageRoot(), 'dist', 'workflow-bundle.js');

/** The workflow interceptors (run counters, log attributes), bundled with the workflows. */
export const WORKFLOW_INTERCEPTORS = require.resolve('../workflows/interceptors');

/** Bundles `workflows/` once, so workers start without webpack. */
export async function buildBundle(out = BUNDLE_PATH): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    workflowInterceptorModules: [WORKFLOW_INTERCEPTORS],
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: console.warn,
      error: console.error,
    },
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  return out;
}

if (require.main === module) {
  buildBundle().then(
    (path) => console.log(`workflow bundle written to ${path}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
