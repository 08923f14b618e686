/**
 * The one media type the API reads. The api handler (on AWS and locally) refuses a body of any
 * other type with 415, and local mode refuses every state-changing request that does not declare
 * it, body or not: a browser sends a cross-site request without asking the server first only
 * when its Content-Type is absent, `text/plain`, `multipart/form-data` or
 * `application/x-www-form-urlencoded` (https://fetch.spec.whatwg.org/#cors-safelisted-request-header),
 * so requiring `application/json` leaves a web page no request it can send unasked.
 */

export const JSON_MEDIA_TYPE = 'application/json';

/**
 * `application/json`, any case, with optional parameters (RFC 9110 §8.3.1); a charset, when
 * given, must be UTF-8, the only encoding JSON has (RFC 8259 §8.1).
 */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [essence, ...parameters] = contentType.split(';');
  if (essence?.trim().toLowerCase() !== JSON_MEDIA_TYPE) return false;
  return parameters.every((parameter) => {
    const [name, value = ''] = parameter.split('=');
    if (name?.trim().toLowerCase() !== 'charset') return true;
    return (
      value
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase() === 'utf-8'
    );
  });
}

/** How a 415 names what it received. */
export function describeContentType(contentType: string | undefined): string {
  return contentType === undefined || contentType.trim() === '' ? 'no Content-Type' : `Content-Type ${JSON.stringify(contentType)}`;
}
