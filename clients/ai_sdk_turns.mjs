#!/usr/bin/env node
// Hold a conversation of several turns with a server that keeps the history, the way a
// `useChat` page does when only the new message is sent (prepareSendMessagesRequest), with the
// `ai` package's own Chat (AbstractChat) and DefaultChatTransport; then, as a reloaded page,
// fetch the history and check it with the package's validateUIMessages.
//
//   node clients/ai_sdk_turns.mjs URL --prompts JSON [--history URL] [--chat-id ID] [--timeout SECONDS]
//
// --prompts   a JSON array of the user's messages, sent one after the other (each waits for
//             the answer to the one before)
// --history   a URL that answers the chat's messages as JSON (UIMessage[]), read after the
//             turns, as a page that reloads would
//
// stdout: one JSON object
//   {"messages": [UIMessage], "requests": [body], "statuses": [int], "errors": [string],
//    "history": [UIMessage] | null, "history_errors": [string]}
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
  "usage: node clients/ai_sdk_turns.mjs URL --prompts JSON [--history URL] [--chat-id ID] [--timeout SECONDS]";

installCrashGuards();
guardStdout();

const { positional, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(), options: new Set(["prompts", "history", "chat-id", "timeout"]) },
  USAGE,
);
if (positional.length !== 1) usageError("give exactly one URL", USAGE);
const url = checkHttpUrl(positional[0], USAGE);
const prompts = jsonOption(options, "prompts", USAGE);
if (!Array.isArray(prompts) || prompts.length === 0) usageError("--prompts must be a non-empty JSON array", USAGE);
const historyUrl = options.history === undefined ? undefined : checkHttpUrl(options.history, USAGE);

const requests = [];
const statuses = [];
const errors = [];
const historyErrors = [];
let history = null;
let chat;
const result = () => ({
  messages: chat ? chat.messages : [],
  requests,
  statuses,
  errors,
  history,
  history_errors: historyErrors,
});
armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { AbstractChat, DefaultChatTransport, validateUIMessages } = await importDep("ai");
const Chat = plainChat(AbstractChat);

const transport = new DefaultChatTransport({
  api: url,
  // The server holds the history: send the chat's id and the new message only.
  prepareSendMessagesRequest: ({ id, messages }) => ({ body: { id, message: messages.at(-1) } }),
  fetch: async (input, init) => {
    requests.push(JSON.parse(init.body));
    const response = await fetch(input, init);
    statuses.push(response.status);
    return response;
  },
});

let idCounter = 0;
chat = new Chat({
  id: options["chat-id"] ?? "agentstream-turns-chat",
  generateId: () => `gen-${++idCounter}`,
  transport,
  onError: (err) => errors.push(errorToString(err)),
});

for (const prompt of prompts) {
  try {
    await chat.sendMessage({ text: prompt });
  } catch (err) {
    errors.push(errorToString(err));
    break;
  }
  if (chat.status === "error") break;
}

if (historyUrl !== undefined) {
  try {
    const response = await fetch(historyUrl);
    if (!response.ok) throw new Error(`GET history answered HTTP ${response.status}`);
    const fetched = await response.json();
    // What a reloaded page gives useChat({ messages }): the ai package checks it as it would.
    history = await validateUIMessages({ messages: fetched });
  } catch (err) {
    historyErrors.push(errorToString(err));
  }
}

writeAndExit(safeJson(result()) + "\n");
