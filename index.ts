/**
 * The public API of pipectl: what pipeline definition files import.
 *
 * ```ts
 * import { definePipeline, postgres } from 'pipectl';
 * ```
 */
export { definePipeline, postgres, csv, ndjson } from './core/define';
export type { QueryOptions, TableOptions } from './core/define';
export type {
  DevSetupContext,
  ExtractFn,
  LoadFn,
  PipelineDefinition,
  PipelineInput,
  PipelineSpec,
  Row,
  StepContext,
  TransformFn,
} from './core/pipeline-spec';
export type { Window } from './core/window';
export { ApplicationFailure } from '@temporalio/common';
