/** Batch's answer to a request it refuses (HTTP 400), as the stand-in's callers map it. */
export class ClientException extends Error {
  override readonly name = 'ClientException';
}
