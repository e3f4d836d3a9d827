/**
 * The workflow the raw Temporal cold-start baseline serves: one workflow task, no activity. Bundled once, before the
 * timed runs, as pipectl's workflows are by `npm run build`.
 */

/** Completes at once. */
export async function trivial(): Promise<string> {
  return 'ok';
}
