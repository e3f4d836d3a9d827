/** One problem found in the pipeline definitions, with where it is. */
export interface DefinitionIssue {
  /** Definition file, relative to the working directory. */
  file: string;
  /** Pipeline name when known. */
  pipeline?: string;
  /** Dotted field path inside the definition (`retry.maximumAttempts`). */
  field?: string;
  /** What is wrong and how to fix it. */
  message: string;
}

/** `pipelines/orders.ts: pipeline 'orders_daily': retry.maximumAttempts: must be at least 1`. */
export function formatIssue(issue: DefinitionIssue): string {
  const where = [issue.file];
  if (issue.pipeline) where.push(`pipeline '${issue.pipeline}'`);
  if (issue.field) where.push(issue.field);
  return `${where.join(': ')}: ${issue.message}`;
}

/** Thrown when definitions are invalid; carries every issue so the CLI can print them all at once. */
export class CatalogError extends Error {
  override name = 'CatalogError';
  constructor(readonly issues: DefinitionIssue[]) {
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in the pipeline definitions:\n` +
        issues.map((i) => `  ${formatIssue(i)}`).join('\n'),
    );
  }
}
