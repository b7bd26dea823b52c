#!/usr/bin/env node
// Hold a conversation of several turns in one AG-UI thread with @ag-ui/client's HttpAgent
// (runAgent runs verifyEvents on every run), one user message a turn, and report each run.
//
//   node clients/agui_turns.mjs URL --prompts JSON [--thread ID] [--timeout SECONDS]
//
// stdout: one JSON object
//   {"runs": [{"input": RunAgentInput, "events": [event], "errors": [string]}],
//    "messages": [Message], "errors": [string]}
// Exit 0 whenever the client ran.

import {
  armTimeout,
  checkHttpUrl,
  errorToString,
  guardStdout,
  importDep,
  installCrashGuards,
  jsonOption,
  parseArgs,
  safeJson,
  timeoutSeconds,
  usageError,
  writeAndExit,
} from "./_common.mjs";

const USAGE = "usage: node clients/agui_turns.mjs URL --prompts JSON [--thread ID] [--timeout SECONDS]";

installCrashGuards();
guardStdout();

const { positional, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(), options: new Set(["prompts", "thread", "timeout"]) },
  USAGE,
);
if (positional.length !== 1) usageError("give exactly one URL", USAGE);
const url = checkHttpUrl(positional[0], USAGE);
const prompts = jsonOption(options, "prompts", USAGE);
if (!Array.isArray(prompts) || prompts.length === 0) usageError("--prompts must be a non-empty JSON array", USAGE);

const runs = [];
const errors = [];
let agent;
const result = () => ({ runs, messages: agent ? structuredClone(agent.messages) : [], errors });
armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { HttpAgent } = await importDep("@ag-ui/client");
const { tap } = await importDep("rxjs");

let current;
class RecordingHttpAgent extends HttpAgent {
  run(runInput) {
    current = { input: structuredClone(runInput), events: [], errors: [] };
    runs.push(current);
    return super.run(runInput).pipe(tap((event) => current.events.push(structuredClone(event))));
  }
}

agent = new RecordingHttpAgent({ url, threadId: options.thread ?? "thread-turns" });
for (const [index, prompt] of prompts.entries()) {
  agent.addMessage({ id: `user-${index + 1}`, role: "user", content: prompt });
  try {
    await agent.runAgent(
      { runId: `run-${index + 1}` },
      { onRunFailed: ({ error }) => current?.errors.push(errorToString(error)) },
    );
  } catch (err) {
    errors.push(errorToString(err));
    break;
  }
}

writeAndExit(safeJson(result()) + "\n");
