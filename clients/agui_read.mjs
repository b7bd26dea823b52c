#!/usr/bin/env node
// Run an AG-UI agent endpoint through @ag-ui/client's HttpAgent, the client
// AG-UI front ends use, and report what it accepted, rejected and assembled.
//
//   node clients/agui_read.mjs URL [--body JSON] [--prompt TEXT] [--timeout SECONDS]
//   node clients/agui_read.mjs --stdin [--body JSON] [--prompt TEXT] [--timeout SECONDS] < body
//
// URL mode: HttpAgent.runAgent() POSTs a RunAgentInput to URL (Accept:
// text/event-stream). --stdin mode hands an SSE body read from stdin to the
// same HttpAgent as its fetch() response, so it goes through the same code:
// the client's own SSE framing (transformHttpEventStream/parseSSEStream), then
// the run pipeline of runAgent(): enforceEvents (schema: unknown event types
// dropped and unknown fields stripped with a warning, malformed known fields
// fatal), transformChunks, verifyEvents (ordering rules), then the reducer
// that assembles messages and state. runAgent() applies verifyEvents itself
// in 1.0.0; it is not applied a second time here.
//
// --body JSON    fields of the RunAgentInput to use instead of the defaults
//                {threadId: "thread-1", runId: "run-1", messages: [{id:
//                "user-1", role: "user", content: PROMPT}], tools: [],
//                context: [], state: {}, forwardedProps: {}}
// --prompt TEXT  content of the default user message (default "Hello")
//
// stdout: one JSON object
//   {
//     "events":     [event],  every event the client's SSE parser produced, in
//                             order, before any checking (the one that failed
//                             verification is included; nothing after it is read)
//     "delivered":  [event],  the events that passed enforcement + verification
//                             and reached subscribers (onEvent)
//     "messages":   [Message], agent.messages after the run (input messages too)
//     "new_messages": [Message], the messages the run added (runAgent's newMessages)
//     "state":      any,      agent.state after the run
//     "errors":     [string], the run's failure (verifyEvents, schema, HTTP, SSE/JSON)
//     "warnings":   [string], console.warn output of the client (stripped fields,
//                             dropped unknown events, deprecated shapes)
//     "terminated": bool      (computed here, not by the client) the last event
//                             is RUN_FINISHED or RUN_ERROR; the client itself
//                             does not object to a stream that just stops
//   }
// Exit 0 whenever the client ran; a broken stream shows up in "errors".

import {
  EXIT_OK,
  armTimeout,
  checkHttpUrl,
  errorToString,
  guardStdout,
  importDep,
  installCrashGuards,
  jsonOption,
  parseArgs,
  readStdinBytes,
  safeJson,
  timeoutSeconds,
  usageError,
  writeAndExit,
} from "./_common.mjs";

const USAGE = [
  "usage: node clients/agui_read.mjs URL [--body JSON] [--prompt TEXT] [--timeout SECONDS]",
  "       node clients/agui_read.mjs --stdin [--body JSON] [--prompt TEXT] [--timeout SECONDS] < body",
].join("\n");

installCrashGuards();
const warnings = [];
guardStdout({ onWarn: (text) => warnings.push(text) });

const { positional, flags, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(["stdin"]), options: new Set(["body", "prompt", "timeout"]) },
  USAGE,
);
if (flags.stdin ? positional.length !== 0 : positional.length !== 1) usageError("give exactly one of URL or --stdin", USAGE);
const url = flags.stdin ? "http://stdin.invalid/agent" : checkHttpUrl(positional[0], USAGE);
const body = jsonOption(options, "body", USAGE) ?? {};
if (typeof body !== "object" || body === null || Array.isArray(body)) usageError("--body must be a JSON object", USAGE);

const input = {
  threadId: "thread-1",
  runId: "run-1",
  messages: [{ id: "user-1", role: "user", content: options.prompt ?? "Hello" }],
  tools: [],
  context: [],
  state: {},
  forwardedProps: {},
  ...body,
};

// ---- results ---------------------------------------------------------------
const events = [];
const delivered = [];
const errors = [];
let agent;
let newMessages = null;

const noteError = (err) => {
  const text = errorToString(err);
  if (!errors.includes(text)) errors.push(text);
};

const TERMINAL = new Set(["RUN_FINISHED", "RUN_ERROR"]);
const result = () => ({
  events,
  delivered,
  messages: agent ? structuredClone(agent.messages) : [],
  new_messages: newMessages,
  state: agent ? structuredClone(agent.state) : null,
  errors,
  warnings,
  terminated: events.length > 0 && TERMINAL.has(events[events.length - 1]?.type),
});

armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { HttpAgent } = await importDep("@ag-ui/client");
const { tap } = await importDep("rxjs");

let stdinBytes;
if (flags.stdin) stdinBytes = await readStdinBytes();

// HttpAgent.run() returns the events straight off the wire; every check of
// runAgent() comes after it, so this is where the raw events are recorded.
class RecordingHttpAgent extends HttpAgent {
  run(runInput) {
    return super.run(runInput).pipe(tap((event) => events.push(structuredClone(event))));
  }
}

agent = new RecordingHttpAgent({
  url,
  threadId: input.threadId,
  initialMessages: input.messages,
  initialState: input.state,
  ...(flags.stdin
    ? {
        fetch: async () =>
          new Response(stdinBytes, { status: 200, headers: { "content-type": "text/event-stream" } }),
      }
    : {}),
});

try {
  const runResult = await agent.runAgent(
    { runId: input.runId, tools: input.tools, context: input.context, forwardedProps: input.forwardedProps },
    {
      onEvent: ({ event }) => {
        delivered.push(structuredClone(event));
      },
      onRunFailed: ({ error }) => {
        noteError(error);
      },
    },
  );
  newMessages = runResult?.newMessages ?? null;
} catch (err) {
  noteError(err);
}

writeAndExit(safeJson(result()) + "\n", EXIT_OK);
