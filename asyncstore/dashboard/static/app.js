// asyncstore dashboard: the fleet, one bot (#bot=<id>), kept live by /api/stream.
//
// Data flow: load the fleet (and the bot in the URL hash) once; then every `changes` event asks
// the Refresher for a refresh, which runs at most every 300 ms and refetches the fleet, plus the
// open bot when the event names it (or says resync). Each view updates its DOM in place.

import { fetchBot, fetchFleet, HttpError } from "./api.js";
import { BotView } from "./bot.js";
import { byId, setAttr, setText } from "./dom.js";
import { FleetView } from "./fleet.js";
import { LiveStream, Refresher } from "./live.js";

const fleetView = new FleetView();
const botView = new BotView({ onError: showError });

function showError(error) {
  const banner = byId("banner");
  if (!error) {
    banner.hidden = true;
    return;
  }
  const text =
    error instanceof HttpError && error.status === 401
      ? "Not authorised: open this page once with ?token=<the dashboard's token> (a cookie keeps it)."
      : `Could not load data: ${error.message}`;
  setText(banner, text);
  banner.hidden = false;
}

function botIdFromHash() {
  const match = /^#bot=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function refreshFleet() {
  const fleet = await fetchFleet();
  fleetView.render(fleet);
}

async function refreshBot({ withTrades }) {
  const botId = botView.botId;
  if (botId === null) return;
  try {
    const details = await fetchBot(botId);
    if (botView.botId !== botId) return;
    botView.render(details, fleetView.fleet?.generated_at);
    if (withTrades) await botView.loadTrades({ keep: botView.trades.rows.length });
  } catch (error) {
    if (botView.botId !== botId) return;
    if (error instanceof HttpError && error.status === 404) botView.missing(`No bot "${botId}" in this database.`);
    else throw error;
  }
}

const refresher = new Refresher(async ({ bots, resync }) => {
  try {
    const shown = botView.botId;
    const tasks = [refreshFleet()];
    if (shown !== null && (resync || bots.has(shown))) tasks.push(refreshBot({ withTrades: true }));
    await Promise.all(tasks);
    showError(null);
  } catch (error) {
    showError(error);
  }
});

// The hash decides the view; opening a bot loads it right away (not through the throttle).
async function route() {
  const botId = botIdFromHash();
  byId("fleet-view").hidden = botId !== null;
  byId("bot-view").hidden = botId === null;
  document.title = botId ? `${botId} · asyncstore` : "asyncstore · fleet";
  if (botId === null) {
    botView.botId = null;
    return;
  }
  if (botId !== botView.botId) {
    botView.open(botId);
    window.scrollTo(0, 0);
    try {
      await refreshBot({ withTrades: true });
      showError(null);
    } catch (error) {
      showError(error);
    }
  }
  setAttr(byId("bot-view"), "data-bot-id", botId);
}

function showLive(state) {
  const live = byId("live");
  live.dataset.state = state;
  setText(byId("live-text"), state === "connected" ? "live" : state);
}

// A token in the address bar has done its job once the server set the cookie: drop it from the
// URL (bookmarks and screenshots then never carry it).
function forgetTokenInUrl() {
  const url = new URL(location.href);
  if (!url.searchParams.has("token")) return;
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

async function start() {
  forgetTokenInUrl();
  window.addEventListener("hashchange", route);
  const stream = new LiveStream({ onChanges: (change) => refresher.request(change), onState: showLive });
  stream.open();
  window.addEventListener("pagehide", () => stream.close());
  setInterval(() => {
    const crossed = fleetView.tick();
    if (crossed.length) refresher.request({ bots: crossed });
    botView.tick();
  }, 1000);
  const firstRoute = route();
  try {
    await refreshFleet();
  } catch (error) {
    showError(error);
  }
  await firstRoute;
  document.body.dataset.ready = "true";
}

start();
