import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The pipeline a run belongs to (a DAG run carries its first pipeline's name too). */
export const PIPELINE_NAME = defineSearchAttributeKey('PipelineName', SearchAttributeType.KEYWORD);
/** The schedule group that started the run, or `manual`. */
export const PIPELINE_GROUP = defineSearchAttributeKey('PipelineGroup', SearchAttributeType.KEYWORD);
/** Start of the run's window. */
export const WINDOW_START = defineSearchAttributeKey('WindowStart', SearchAttributeType.DATETIME);
/** How the run was started: `scheduled`, `manual`, `backfill` or `retry`. */
export const RUN_KIND = defineSearchAttributeKey('RunKind', SearchAttributeType.KEYWORD);

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
];
