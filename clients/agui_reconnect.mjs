#!/usr/bin/env node
// A client that leaves an AG-UI run mid-answer and reconnects to it on another server:
// @ag-ui/client's HttpAgent runs the thread on URL_A and aborts once part of the text arrived;
// a second HttpAgent, whose connect() GETs BASE_B/threads/{threadId}/stream (HttpAgent 1.0
// implements no connect of its own), calls connectAgent() for the same thread.
//
//   node clients/agui_reconnect.mjs URL_A BASE_B --prompt TEXT [--thread ID] [--timeout SECONDS]
//
// stdout: one JSON object
//   {"before": string, "events": [event] (the reconnected stream), "after": string (its text),
//    "messages": [Message] (the second agent's), "errors": [string]}
// Exit 0 whenever the client ran.

import {
  armTimeout,
  checkHttpUrl,
  errorToString,
  guardStdout,
  importDep,
  installCrashGuards,
  parseArgs,
  safeJson,
  timeoutSeconds,
  usageError,
  writeAndExit,
} from "./_common.mjs";

const USAGE = "usage: node clients/agui_reconnect.mjs URL_A BASE_B --prompt TEXT [--thread ID] [--timeout SECONDS]";

installCrashGuards();
guardStdout();

const { positional, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(), options: new Set(["prompt", "thread", "timeout"]) },
  USAGE,
);
if (positional.length !== 2) usageError("give URL_A and BASE_B", USAGE);
const [urlA, baseB] = positional.map((u) => checkHttpUrl(u, USAGE));
const threadId = options.thread ?? "thread-reconnect";

let before = "";
const events = [];
const errors = [];
let second;
const textOf = (list) => list.filter((e) => e.type === "TEXT_MESSAGE_CONTENT").map((e) => e.delta).join("");
const result = () => ({
  before,
  events,
  after: textOf(events),
  messages: second ? structuredClone(second.messages) : [],
  errors,
});
armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { HttpAgent, runHttpRequest, transformHttpEventStream } = await importDep("@ag-ui/client");

const first = new HttpAgent({ url: urlA, threadId });
first.addMessage({ id: "user-1", role: "user", content: options.prompt ?? "Hello" });
let seen = "";
const running = first
  .runAgent(
    { runId: "run-1" },
    {
      onTextMessageContentEvent: ({ event }) => {
        seen += event.delta;
        if (seen.split(" ").filter(Boolean).length >= 3) first.abortRun(); // the client leaves
      },
    },
  )
  .catch(() => {});
await running;
before = seen;

class ReconnectingAgent extends HttpAgent {
  connect(input) {
    const url = `${baseB}/threads/${encodeURIComponent(input.threadId)}/stream`;
    return transformHttpEventStream(runHttpRequest(() => fetch(url, { headers: { Accept: "text/event-stream" } })));
  }
}
second = new ReconnectingAgent({ url: `${baseB}/agent`, threadId });
try {
  await second.connectAgent({}, { onEvent: ({ event }) => events.push(structuredClone(event)) });
} catch (err) {
  errors.push(errorToString(err));
}
writeAndExit(safeJson(result()) + "\n");
