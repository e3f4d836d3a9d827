/**
 * The raw Temporal baseline's activities: a no-op extract and load, the work of a no-op pipectl pipeline run (an
 * extract of no rows and a load of none) without pipectl's dispatch, staging, metrics or heartbeats.
 */

/** What a baseline step is told: the node it runs for. */
export interface RawStepRequest {
  node: string;
}

/** The baseline's activities. */
export function createRawActivities() {
  return {
    /** Extracts nothing: no rows. */
    async extract(_req: RawStepRequest): Promise<unknown[]> {
      return [];
    },
    /** Extracts nothing and loads it, in one activity (pipectl's `localSteps: 'fused'`); says how many rows it wrote. */
    async extractAndLoad(_req: RawStepRequest): Promise<number> {
      const rows: unknown[] = [];
      return rows.length;
    },
    /** Loads the rows it is given (none) and says how many it wrote. */
    async load(req: RawStepRequest & { rows: unknown[] }): Promise<number> {
      return req.rows.length;
    },
  };
}

/** The activities as the baseline's workflows see them. */
export type RawActivities = ReturnType<typeof createRawActivities>;
