/** The job a workflow task was started for is not in the store. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
}
