#!/usr/bin/env node
// Run many AG-UI SSE bodies through @ag-ui/client's HttpAgent in one process (its SSE reader,
// schema enforcement, verifyEvents and message reducer), one run per body.
//
//   node clients/agui_batch.mjs [--timeout SECONDS] < bodies.json
//
// stdin: a JSON array of SSE bodies (strings).
// stdout: a JSON array, one entry per body, in order:
//   {"errors": [string], "warnings": [string], "delivered": number, "messages": [Message]}
// Exit 0 whenever the client ran; a broken stream shows up in its "errors".

import {
  EXIT_OK,
  armTimeout,
  errorToString,
  guardStdout,
  importDep,
  installCrashGuards,
  parseArgs,
  readStdinBytes,
  safeJson,
  timeoutSeconds,
  writeAndExit,
} from "./_common.mjs";

const USAGE = "usage: node clients/agui_batch.mjs [--timeout SECONDS] < bodies.json";

installCrashGuards();
let warnings = [];
guardStdout({ onWarn: (text) => warnings.push(text) });
const { options } = parseArgs(process.argv.slice(2), { options: new Set(["timeout"]) }, USAGE);
const results = [];
armTimeout(timeoutSeconds(options, USAGE, 120), () => safeJson(results) + "\n");

const { HttpAgent } = await importDep("@ag-ui/client");
const bodies = JSON.parse(new TextDecoder().decode(await readStdinBytes()));

for (const body of bodies) {
  warnings = [];
  const errors = [];
  let delivered = 0;
  const agent = new HttpAgent({
    url: "http://stdin.invalid/agent",
    threadId: "thread-1",
    initialMessages: [{ id: "user-1", role: "user", content: "Hello" }],
    fetch: async () => new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } }),
  });
  try {
    await agent.runAgent(
      { runId: "run-1", tools: [], context: [], forwardedProps: {} },
      {
        onEvent: () => {
          delivered += 1;
        },
        onRunFailed: ({ error }) => {
          errors.push(errorToString(error));
        },
      },
    );
  } catch (err) {
    const text = errorToString(err);
    if (!errors.includes(text)) errors.push(text);
  }
  results.push({ errors, warnings, delivered, messages: structuredClone(agent.messages) });
}

writeAndExit(safeJson(results) + "\n", EXIT_OK);
