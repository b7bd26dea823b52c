#!/usr/bin/env node
// Hold one AG-UI thread with a server the way an application with approvals and frontend tools
// does, with @ag-ui/client's HttpAgent (runAgent runs verifyEvents on every run), and report
// what happened.
//
//   node clients/agui_interactive.mjs URL --prompt TEXT [--decisions JSON] [--tools JSON]
//        [--outputs JSON] [--rounds N] [--thread ID] [--timeout SECONDS]
//
// The first run sends the user message (and --tools, the frontend tools, on every run). Then,
// as long as runs are left (--rounds, default 3):
//   - a run that finished with an interrupt outcome (agent.pendingInterrupts) is answered with
//     resume entries: --decisions maps an interrupt id (or "*") to {"approved": bool,
//     "reason"?: string} or {"status": "cancelled"} (default: approve); each entry carries the
//     interrupt's metadata.signature back, as the interrupt asked;
//   - a run that finished with frontend tool calls pending (the success outcome's
//     pendingToolCallIds) gets one tool message per call, content JSON.stringify(--outputs[tool]);
//   - otherwise the conversation is over.
//
// stdout: one JSON object
//   {"runs": [{"input": RunAgentInput, "events": [event], "errors": [string]}],
//    "messages": [Message], "errors": [string], "warnings": [string]}
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

const USAGE =
  "usage: node clients/agui_interactive.mjs URL --prompt TEXT [--decisions JSON] [--tools JSON] [--outputs JSON] [--rounds N] [--thread ID] [--timeout SECONDS]";

installCrashGuards();
const warnings = [];
guardStdout({ onWarn: (text) => warnings.push(text) });

const { positional, options } = parseArgs(
  process.argv.slice(2),
  {
    flags: new Set(),
    options: new Set(["prompt", "decisions", "tools", "outputs", "rounds", "thread", "timeout"]),
  },
  USAGE,
);
if (positional.length !== 1) usageError("give exactly one URL", USAGE);
const url = checkHttpUrl(positional[0], USAGE);
const decisions = jsonOption(options, "decisions", USAGE) ?? {};
const tools = jsonOption(options, "tools", USAGE) ?? [];
const outputs = jsonOption(options, "outputs", USAGE) ?? {};
const rounds = Number.parseInt(options.rounds ?? "3", 10);
if (!Number.isInteger(rounds) || rounds < 1) usageError("--rounds must be a whole number >= 1", USAGE);

const runs = [];
const errors = [];
let agent;
const result = () => ({
  runs,
  messages: agent ? structuredClone(agent.messages) : [],
  errors,
  warnings,
});
armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { HttpAgent } = await importDep("@ag-ui/client");
const { tap } = await importDep("rxjs");

let current;
// HttpAgent.run() gives the events straight off the wire, before runAgent's checks.
class RecordingHttpAgent extends HttpAgent {
  run(runInput) {
    current = { input: structuredClone(runInput), events: [], errors: [] };
    runs.push(current);
    return super.run(runInput).pipe(tap((event) => current.events.push(structuredClone(event))));
  }
}

agent = new RecordingHttpAgent({
  url,
  threadId: options.thread ?? "thread-interactive",
  initialMessages: [{ id: "user-1", role: "user", content: options.prompt ?? "Hello" }],
});

let resume;
for (let round = 1; round <= rounds; round += 1) {
  let finished;
  try {
    await agent.runAgent(
      { runId: `run-${round}`, tools, ...(resume ? { resume } : {}) },
      {
        onRunFinishedEvent: (finishedEvent) => {
          finished = finishedEvent;
        },
        onRunFailed: ({ error }) => {
          current?.errors.push(errorToString(error));
        },
      },
    );
  } catch (err) {
    errors.push(errorToString(err));
    break;
  }
  resume = undefined;
  if (agent.pendingInterrupts.length > 0) {
    resume = agent.pendingInterrupts.map((interrupt) => {
      const decision = decisions[interrupt.id] ?? decisions["*"] ?? { approved: true };
      const entry = { interruptId: interrupt.id, metadata: { signature: interrupt.metadata?.signature } };
      if (decision.status === "cancelled") return { ...entry, status: "cancelled" };
      const payload = { approved: decision.approved };
      if (decision.reason !== undefined) payload.reason = decision.reason;
      return { ...entry, status: "resolved", payload };
    });
    continue;
  }
  const pending = finished?.outcome === "success" ? (finished.pendingToolCallIds ?? []) : [];
  const answerable = pending.filter((callId) => {
    const call = agent.messages.flatMap((m) => m.toolCalls ?? []).find((c) => c.id === callId);
    return call && Object.hasOwn(outputs, call.function.name);
  });
  if (answerable.length === 0) break;
  for (const callId of answerable) {
    const call = agent.messages.flatMap((m) => m.toolCalls ?? []).find((c) => c.id === callId);
    agent.addMessage({
      id: `tool-${callId}`,
      role: "tool",
      toolCallId: callId,
      content: JSON.stringify(outputs[call.function.name]),
    });
  }
}

writeAndExit(safeJson(result()) + "\n");
