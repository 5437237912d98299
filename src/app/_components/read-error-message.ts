/** What went wrong with an API call, in words: the API's `{ "error": message }`, else the HTTP status. */
export async function readErrorMessage(response: Response): Promise<string> {
  const body: unknown = await response.json().catch(() => null);
  const message = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  return typeof message === 'string' && message
    ? message
    : `the server answered ${response.status} ${response.statusText}`.trim();
}
