#!/usr/bin/env node
// Hold one conversation with a server the way a `useChat` page with approvals and frontend
// tools does, with the `ai` package's own Chat state machine (AbstractChat) and
// DefaultChatTransport, and report what happened.
//
//   node clients/ai_sdk_interactive.mjs URL --prompt TEXT [--decisions JSON] [--outputs JSON]
//        [--rounds N] [--chat-id ID] [--timeout SECONDS]
//
// The user message is sent with chat.sendMessage. Then, as a page would:
//   - every tool part that asks for approval (state "approval-requested") is answered with
//     chat.addToolApprovalResponse({id: part.approval.id, approved, reason}); --decisions maps
//     a toolCallId (or "*") to {"approved": bool, "reason"?: string} (default: approve);
//   - every call of a tool named in --outputs (a frontend tool: no execute on the server) is
//     answered from onToolCall with chat.addToolOutput({tool, toolCallId, output});
//   - the Chat sends the next request by itself, when the last assistant message is complete
//     with approval responses or tool outputs (sendAutomaticallyWhen, with the `ai` package's
//     lastAssistantMessageIsCompleteWithApprovalResponses / ...WithToolCalls).
// The script ends after N finished responses (--rounds, default 2).
//
// stdout: one JSON object
//   {"messages": [UIMessage], "requests": [body], "chunks": [[UIMessageChunk]] (per response),
//    "errors": [string], "finishes": [{isAbort, isDisconnect, isError, finishReason}],
//    "status": string, "statuses": [int] (HTTP status of each response)}
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
import { plainChat } from "./_chat.mjs";

const USAGE =
  "usage: node clients/ai_sdk_interactive.mjs URL --prompt TEXT [--decisions JSON] [--outputs JSON] [--rounds N] [--chat-id ID] [--timeout SECONDS]";

installCrashGuards();
guardStdout();

const { positional, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(), options: new Set(["prompt", "decisions", "outputs", "rounds", "chat-id", "timeout"]) },
  USAGE,
);
if (positional.length !== 1) usageError("give exactly one URL", USAGE);
const url = checkHttpUrl(positional[0], USAGE);
const prompt = options.prompt ?? "Hello";
const decisions = jsonOption(options, "decisions", USAGE) ?? {};
const outputs = jsonOption(options, "outputs", USAGE) ?? {};
const rounds = Number.parseInt(options.rounds ?? "2", 10);
if (!Number.isInteger(rounds) || rounds < 1) usageError("--rounds must be a whole number >= 1", USAGE);

const requests = [];
const chunks = [];
const errors = [];
const finishes = [];
const statuses = [];
let chat;

const result = () => ({
  messages: chat ? chat.messages : [],
  requests,
  chunks,
  errors,
  finishes,
  statuses,
  status: chat ? chat.status : null,
});

armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  lastAssistantMessageIsCompleteWithToolCalls,
} = await importDep("ai");

const Chat = plainChat(AbstractChat);

// The transport useChat uses, with fetch wrapped to keep each request body and status, and
// each response's chunks.
const transport = new DefaultChatTransport({
  api: url,
  fetch: async (input, init) => {
    requests.push(JSON.parse(init.body));
    const response = await fetch(input, init);
    statuses.push(response.status);
    return response;
  },
});
const tapping = {
  async sendMessages(sendOptions) {
    const stream = await transport.sendMessages(sendOptions);
    const mine = [];
    chunks.push(mine);
    return stream.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          mine.push(structuredClone(chunk));
          controller.enqueue(chunk);
        },
      }),
    );
  },
  async reconnectToStream() {
    return null;
  },
};

let finished = 0;
let settle;
const allDone = new Promise((resolve) => {
  settle = resolve;
});

// Answer the approvals of the last assistant message, once each.
const answered = new Set();
function answerApprovals() {
  const last = chat.messages.at(-1);
  if (!last || last.role !== "assistant") return;
  for (const part of last.parts) {
    if (part.state !== "approval-requested" || answered.has(part.toolCallId)) continue;
    answered.add(part.toolCallId);
    const decision = decisions[part.toolCallId] ?? decisions["*"] ?? { approved: true };
    Promise.resolve(
      chat.addToolApprovalResponse({ id: part.approval.id, approved: decision.approved, reason: decision.reason }),
    ).catch((err) => errors.push(errorToString(err)));
  }
}

let idCounter = 0;
chat = new Chat({
  id: options["chat-id"] ?? "agentstream-interactive-chat",
  generateId: () => `gen-${++idCounter}`,
  transport: tapping,
  sendAutomaticallyWhen: ({ messages }) =>
    lastAssistantMessageIsCompleteWithApprovalResponses({ messages }) ||
    lastAssistantMessageIsCompleteWithToolCalls({ messages }),
  onToolCall: ({ toolCall }) => {
    if (Object.hasOwn(outputs, toolCall.toolName)) {
      Promise.resolve(
        chat.addToolOutput({ tool: toolCall.toolName, toolCallId: toolCall.toolCallId, output: outputs[toolCall.toolName] }),
      ).catch((err) => errors.push(errorToString(err)));
    }
  },
  onError: (err) => errors.push(errorToString(err)),
  onFinish: ({ isAbort, isDisconnect, isError, finishReason }) => {
    finishes.push({ isAbort, isDisconnect, isError, finishReason: finishReason ?? null });
    finished += 1;
    if (finished >= rounds || isError) {
      settle();
      return;
    }
    // The page's user clicks: after the response that asked, answer what waits.
    setTimeout(answerApprovals, 0);
  },
});

try {
  await chat.sendMessage({ text: prompt });
} catch (err) {
  errors.push(errorToString(err));
  settle();
}
await allDone;
// Let the Chat finish its bookkeeping of the last response.
while (chat.status === "streaming" || chat.status === "submitted") {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
writeAndExit(safeJson(result()) + "\n");
