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

/**
 * On a pipectl Schedule: the hash of the options `pipectl sync` last applied (also in the action's memo). Listing
 * Schedules returns it, so a sync that changes nothing needs one list instead of a describe per Schedule.
 */
export const SCHEDULE_HASH = defineSearchAttributeKey('PipectlScheduleHash', SearchAttributeType.KEYWORD);
/** On a pipectl Schedule: the pipelines paused inside its group (`pipectl pause <pipeline>`), for the same list. */
export const PAUSED_PIPELINES = defineSearchAttributeKey('PipectlPausedPipelines', SearchAttributeType.KEYWORD_LIST);

/** Set by Temporal on workflows a Schedule starts: the time the firing was scheduled for. */
export const TEMPORAL_SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

/** Every search attribute pipectl registers, by name, with its type as the dev server's flag spells it. */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{
  name: string;
  cliType: 'Keyword' | 'KeywordList' | 'Datetime';
  type: SearchAttributeType;
}> = [
  { name: PIPELINE_NAME.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: PIPELINE_GROUP.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: WINDOW_START.name, cliType: 'Datetime', type: SearchAttributeType.DATETIME },
  { name: RUN_KIND.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: WINDOW_END.name, cliType: 'Datetime', type: SearchAttributeType.DATETIME },
  { name: SCHEDULE_HASH.name, cliType: 'Keyword', type: SearchAttributeType.KEYWORD },
  { name: PAUSED_PIPELINES.name, cliType: 'KeywordList', type: SearchAttributeType.KEYWORD_LIST },
];

/** The search attributes of a pipectl Schedule: the hash of its options and the pipelines paused inside it. */
export function scheduleSearchAttributes(hash: string, pausedPipelines: string[]): SearchAttributePair[] {
  return [
    { key: SCHEDULE_HASH, value: hash },
    { key: PAUSED_PIPELINES, value: [...pausedPipelines].sort() },
  ];
}

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
