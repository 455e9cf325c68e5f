// The server's JSON API: same origin, paths relative to the page (a proxy may mount it under a
// prefix). Authorisation rides on the cookie the server set when the page was opened with
// ?token=…, so no URL here ever carries the token.

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJSON(path) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
    cache: "no-store",
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error;
    } catch {
      // not JSON: keep the status line
    }
    throw new HttpError(response.status, message);
  }
  return response.json();
}

export const fetchFleet = () => getJSON("api/fleet");

export const fetchBot = (botId) => getJSON(`api/bots/${encodeURIComponent(botId)}`);

export function fetchTrades(botId, { after = null, limit = 50 } = {}) {
  const query = new URLSearchParams({ status: "closed", limit: String(limit) });
  if (after !== null && after !== undefined) query.set("after", after);
  return getJSON(`api/bots/${encodeURIComponent(botId)}/trades?${query}`);
}

export const STREAM_URL = "api/stream";
