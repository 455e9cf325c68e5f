// Live updates: an EventSource on /api/stream, and a throttle that turns bursts of `changes`
// events into at most one refresh every MIN_GAP_MS (the last event of a burst is never lost).

import { STREAM_URL } from "./api.js";

const MIN_GAP_MS = 300;

// Collects what needs refreshing (the fleet, some bots, or everything after a resync) and runs
// `refresh(work)` no more often than every MIN_GAP_MS, one run at a time.
export class Refresher {
  constructor(refresh) {
    this.refresh = refresh;
    this.pending = null;
    this.running = false;
    this.timer = null;
    this.lastStart = 0;
  }

  request({ bots = [], resync = false } = {}) {
    const pending = this.pending ?? { bots: new Set(), resync: false };
    for (const bot of bots) pending.bots.add(String(bot));
    pending.resync ||= Boolean(resync);
    this.pending = pending;
    this.schedule();
  }

  schedule() {
    if (this.running || this.timer !== null || this.pending === null) return;
    const wait = Math.max(0, this.lastStart + MIN_GAP_MS - performance.now());
    this.timer = setTimeout(() => this.run(), wait);
  }

  async run() {
    this.timer = null;
    const work = this.pending;
    this.pending = null;
    if (work === null) return;
    this.running = true;
    this.lastStart = performance.now();
    try {
      await this.refresh(work);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

// The stream, with its state shown by `onState("connecting" | "connected" | "reconnecting")`.
// The browser retries a dropped stream by itself; when it gives up (an HTTP error such as 401),
// a new EventSource is opened after a growing delay. After any reconnect the page resyncs, since
// events may have been missed while it was away.
export class LiveStream {
  constructor({ onChanges, onState }) {
    this.onChanges = onChanges;
    this.onState = onState;
    this.source = null;
    this.wasConnected = false;
    this.hadError = false;
    this.retryMs = 1000;
    this.retryTimer = null;
  }

  open() {
    this.onState(this.wasConnected ? "reconnecting" : "connecting");
    const source = new EventSource(STREAM_URL, { withCredentials: true });
    this.source = source;
    source.addEventListener("open", () => {
      const missedSome = this.hadError;
      this.wasConnected = true;
      this.hadError = false;
      this.retryMs = 1000;
      this.onState("connected");
      if (missedSome) this.onChanges({ bots: [], resync: true });
    });
    source.addEventListener("changes", (event) => {
      let data = {};
      try {
        data = JSON.parse(event.data);
      } catch {
        data = { resync: true };
      }
      this.onChanges({ bots: data.bots ?? [], resync: Boolean(data.resync) });
    });
    source.addEventListener("error", () => {
      if (this.source !== source) return;
      this.hadError = true;
      this.onState("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        this.retryTimer = setTimeout(() => this.open(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 15000);
      }
    });
  }

  close() {
    clearTimeout(this.retryTimer);
    if (this.source) this.source.close();
    this.source = null;
  }
}
