import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

/** The pipeline a run belongs to (a DAG run carries its first pipeline's name too). */
export const PIPELINE_NAME = defineSearchAttributeKey('PipelineName', SearchAttributeType.KEYWORD);
/** The schedule group that started the run, or `manual`. */
export const PIPELINE_GROUP = defineSearchAttributeKey('PipelineGroup', SearchAttributeType.KEYWORD);
/** Start of the run's window. */
export const WINDOW_START = defineSearchAttributeKey('WindowStart', SearchAttributeType.DATETIME);
/** End of the run's window (exclusive); with `WindowStart` it tells which runs cover a window. */
export const WINDOW_END = defineSearchAttributeKey('WindowEnd', SearchAttributeType.DATETIME);
/** How the run was started: `scheduled`, `manual`, `backfill` or `retry`. */
export const RUN_KIND = defineSearchAttributeKey('RunKind', SearchAttributeType.KEYWORD);

/** Set by Temporal on workflows a Schedule starts: the time the firing was scheduled for. */
export const TEMPORAL_SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

/** Every search attribute pipectl registers, by name, with its type as the dev server's flag spells it. */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{
  name: string;
  cliType: 'Keyword' | 'Datetime';
  type: SearchAttributeType;
}> = [
  { name: PIPELINE_NAME.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: PIPELINE_GROUP.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: WINDOW_START.name, cliType: 'Datetime', type: SearchAttributeType.DATETIME },
  { name: RUN_KIND.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: WINDOW_END.name, cliType: 'Datetime', type: SearchAttributeType.DATETIME },
];

/** The search attributes of a pipeline run or DAG run, as the Web UI filters them. */
export function runSearchAttributes(
  pipeline: string,
  group: string,
  window: { start: string; end: string },
  kind: string,
): SearchAttributePair[] {
  return [
    { key: PIPELINE_NAME, value: pipeline },
    { key: PIPELINE_GROUP, value: group },
    { key: WINDOW_START, value: new Date(window.start) },
    { key: WINDOW_END, value: new Date(window.end) },
    { key: RUN_KIND, value: kind },
  ];
}
