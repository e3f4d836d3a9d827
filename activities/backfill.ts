import type { Client } from '@temporalio/client';

/**
 * Whether the DAG run with this workflow ID last closed successfully: its latest run (after any continue-as-new)
 * completed. A DAG run that never ran, is running, failed, was cancelled or terminated is not a success.
 */
export async function dagRunSucceeded(client: Client, workflowId: string): Promise<boolean> {
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    return description.status.name === 'COMPLETED';
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}
