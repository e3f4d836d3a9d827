/** Every workflow pipectl registers; the worker bundles this module. */
export { runPipeline } from './run-pipeline';
export { dagRun } from './dag-run';
export { backfill } from './backfill';
