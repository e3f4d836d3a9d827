/**
 * A DAG run's state as the Web UI shows it in the run's current details: counts per state, then a table of the nodes
 * worth a look (running, waiting, failed, blocked, skipped first). Pure: used by the workflow.
 */
import type { DagPlan, NodeState } from './dag-plan';

/** At most this many node rows: a 10,000-node DAG run shows its counts and the nodes that matter. */
const MAX_ROWS = 50;

const ORDER: readonly NodeState[] = [
  'running',
  'waiting',
  'failed',
  'upstream_failed',
  'cancelled',
  'skipped',
  'succeeded',
  'pending',
];

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

/** Markdown: a line of counts, then up to 50 nodes with state, attempts, rows and error. */
export function dagDetails(plan: DagPlan, paused: boolean): string {
  const counts = plan.counts();
  const parts = ORDER.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s.replace('_', ' ')}`);
  const head = `**${counts.succeeded} of ${plan.size} pipelines succeeded**${paused ? ' · **paused**' : ''} · ${parts.join(' · ')}`;
  const rank = new Map(ORDER.map((s, i) => [s, i]));
  const shown = [...plan.order]
    .sort((a, b) => rank.get(plan.state[a]!)! - rank.get(plan.state[b]!)!)
    .slice(0, MAX_ROWS);
  const rows = shown.map((i) => {
    const error = plan.errors.get(i);
    const rows = plan.rowsLoaded[i]! >= 0 ? String(plan.rowsLoaded[i]) : '';
    return `| ${plan.names[i]} | ${plan.state[i]!.replace('_', ' ')} | ${plan.attempts[i]} | ${rows} | ${error ? cell(`${error.type}: ${error.message}`) : ''} |`;
  });
  const more = plan.size > shown.length ? [`\n…and ${plan.size - shown.length} more`] : [];
  return [
    head,
    '',
    '| pipeline | state | attempts | rows loaded | error |',
    '|---|---|---|---|---|',
    ...rows,
    ...more,
  ].join('\n');
}
