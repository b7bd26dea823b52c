#!/usr/bin/env node
// A page that reloads mid-answer: the `ai` package's Chat sends a message to one server, is
// stopped once part of the answer has arrived (the page goes away), and a new Chat with the same
// id reconnects with resumeStream() (what useChat({ resume: true }) does on load), through
// DefaultChatTransport's GET {api}/{chatId}/stream, to another server.
//
//   node clients/ai_sdk_reload.mjs URL_A URL_B --prompt TEXT [--chat-id ID] [--timeout SECONDS]
//
// stdout: one JSON object
//   {"before": string (the text the first page had), "after": string (the reconnected
//    page's text), "messages": [UIMessage] (the reconnected page's), "statuses": [int],
//    "errors": [string]}
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
import { plainChat } from "./_chat.mjs";

const USAGE = "usage: node clients/ai_sdk_reload.mjs URL_A URL_B --prompt TEXT [--chat-id ID] [--timeout SECONDS]";

installCrashGuards();
guardStdout();

const { positional, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(), options: new Set(["prompt", "chat-id", "timeout"]) },
  USAGE,
);
if (positional.length !== 2) usageError("give URL_A and URL_B", USAGE);
const [urlA, urlB] = positional.map((u) => checkHttpUrl(u, USAGE));
const chatId = options["chat-id"] ?? "agentstream-reload-chat";

const statuses = [];
const errors = [];
let before = "";
let second;
const textOf = (chat) =>
  (chat?.messages.filter((m) => m.role === "assistant").at(-1)?.parts ?? [])
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");
const result = () => ({ before, after: textOf(second), messages: second ? second.messages : [], statuses, errors });
armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { AbstractChat, DefaultChatTransport } = await importDep("ai");
const Chat = plainChat(AbstractChat);
const fetching = async (input, init) => {
  const response = await fetch(input, init);
  statuses.push(response.status);
  return response;
};

const first = new Chat({
  id: chatId,
  transport: new DefaultChatTransport({ api: urlA, fetch: fetching }),
  onError: (err) => errors.push(`first: ${errorToString(err)}`),
});
const sending = first.sendMessage({ text: options.prompt ?? "Hello" });
// The page goes away once part of the answer is on screen.
// (The send starts asynchronously: the status is "ready" for a moment before "submitted".)
while (textOf(first).split(" ").filter(Boolean).length < 3 && first.status !== "error") {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
before = textOf(first);
await first.stop();
await sending.catch(() => {});

// The reloaded page: the same chat id, its user message, and resume on load.
second = new Chat({
  id: chatId,
  transport: new DefaultChatTransport({ api: urlB, fetch: fetching }),
  onError: (err) => errors.push(`second: ${errorToString(err)}`),
});
try {
  await second.resumeStream();
} catch (err) {
  errors.push(errorToString(err));
}
writeAndExit(safeJson(result()) + "\n");
