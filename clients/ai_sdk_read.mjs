#!/usr/bin/env node
// Read a Vercel AI SDK UI message stream the way a `useChat` front end does,
// with the `ai` package's own client code, and report what it made of it.
//
//   node clients/ai_sdk_read.mjs URL [--body JSON] [--prompt TEXT] [--messages JSON] [--timeout SECONDS]
//   node clients/ai_sdk_read.mjs --stdin [--prompt TEXT] [--messages JSON] [--timeout SECONDS] < body
//
// URL mode POSTs to URL through DefaultChatTransport.sendMessages (the request
// body is the one useChat sends: {id, messages, trigger, messageId, ...body}).
// --stdin mode reads an SSE body from stdin and hands it to the same transport
// as the fetch() response, so the bytes take exactly the same path:
// DefaultChatTransport.processResponseStream (parseJsonEventStream +
// uiMessageChunkSchema) -> chunks.
//
// The chunk stream is read twice, at the same time:
//   1. readUIMessageStream({stream, onError}) - every snapshot is kept, and
//      every error it reports or throws is collected;
//   2. AbstractChat.sendMessage, the state machine behind useChat, which stops
//      at the first `error` chunk or processing error and sets status "error".
//
// --body JSON      extra properties merged into the request body (an object)
// --prompt TEXT    the user message text (default "Hello")
// --messages JSON  the UI message history to send instead of --prompt; its last
//                  message (role "user") is submitted as useChat's sendMessage would
//
// stdout: one JSON object
//   {
//     "messages": [UIMessage],      final state of each message readUIMessageStream built
//     "chunks":   [UIMessageChunk], every chunk that came out of the transport, in order
//     "errors":   [string],         errors from readUIMessageStream (onError or thrown),
//                                   from the transport (HTTP status, parse/validation)
//     "chat": {                     what useChat would show
//       "status": "ready"|"error"|"streaming"|"submitted",
//       "error": string|null,
//       "messages": [UIMessage],    the whole history, user message included
//       "finish": {"isAbort", "isDisconnect", "isError", "finishReason"}|null
//     }
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
import { plainChat } from "./_chat.mjs";

const USAGE = [
  "usage: node clients/ai_sdk_read.mjs URL [--body JSON] [--prompt TEXT] [--messages JSON] [--timeout SECONDS]",
  "       node clients/ai_sdk_read.mjs --stdin [--prompt TEXT] [--messages JSON] [--timeout SECONDS] < body",
].join("\n");

installCrashGuards();
guardStdout();

const { positional, flags, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(["stdin"]), options: new Set(["body", "prompt", "messages", "timeout"]) },
  USAGE,
);
if (flags.stdin ? positional.length !== 0 : positional.length !== 1) usageError("give exactly one of URL or --stdin", USAGE);
const url = flags.stdin ? "http://stdin.invalid/api/chat" : checkHttpUrl(positional[0], USAGE);
const extraBody = jsonOption(options, "body", USAGE);
if (extraBody !== undefined && (typeof extraBody !== "object" || extraBody === null || Array.isArray(extraBody))) {
  usageError("--body must be a JSON object", USAGE);
}
const history = jsonOption(options, "messages", USAGE);
if (history !== undefined && (!Array.isArray(history) || history.length === 0 || history.at(-1)?.role !== "user")) {
  usageError("--messages must be a JSON array of UI messages ending with a user message", USAGE);
}
const prompt = options.prompt ?? "Hello";

// ---- results ---------------------------------------------------------------
const chunks = [];
const errors = [];
const snapshots = new Map(); // message id -> last snapshot (insertion order = stream order)
let chat;
let finishInfo = null;

const noteError = (err) => errors.push(errorToString(err));

const result = () => ({
  messages: [...snapshots.values()],
  chunks,
  errors,
  chat: chat
    ? {
        status: chat.status,
        error: chat.error ? errorToString(chat.error) : null,
        messages: chat.messages,
        finish: finishInfo,
      }
    : null,
});

armTimeout(timeoutSeconds(options, USAGE), () => safeJson(result()) + "\n");

const { AbstractChat, DefaultChatTransport, readUIMessageStream } = await importDep("ai");

const Chat = plainChat(AbstractChat);

// ---- transport -------------------------------------------------------------
let stdinBytes;
if (flags.stdin) stdinBytes = await readStdinBytes();

const transport = new DefaultChatTransport({
  api: url,
  ...(flags.stdin
    ? {
        fetch: async () =>
          new Response(stdinBytes, {
            status: 200,
            headers: { "content-type": "text/event-stream", "x-vercel-ai-ui-message-stream": "v1" },
          }),
      }
    : {}),
});

// Reads one branch of the chunk stream with readUIMessageStream.
async function readWithReadUIMessageStream(stream) {
  try {
    const iterable = readUIMessageStream({ stream, onError: noteError });
    for await (const message of iterable) {
      snapshots.set(message.id, structuredClone(message));
    }
  } catch (err) {
    noteError(err);
  }
}

let readerDone = Promise.resolve();
const tappingTransport = {
  resumeStreamIsReplay: transport.resumeStreamIsReplay,
  async sendMessages(sendOptions) {
    let stream;
    try {
      stream = await transport.sendMessages(sendOptions);
    } catch (err) {
      noteError(err);
      throw err;
    }
    const tapped = stream.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          chunks.push(structuredClone(chunk));
          controller.enqueue(chunk);
        },
      }),
    );
    const [forReader, forChat] = tapped.tee();
    readerDone = readWithReadUIMessageStream(forReader);
    return forChat;
  },
  async reconnectToStream() {
    return null;
  },
};

let idCounter = 0;
chat = new Chat({
  id: "agentstream-test-chat",
  // Deterministic ids (useChat's default is random) so outputs can be compared.
  generateId: () => `gen-${++idCounter}`,
  transport: tappingTransport,
  onFinish: ({ isAbort, isDisconnect, isError, finishReason }) => {
    finishInfo = { isAbort, isDisconnect, isError, finishReason: finishReason ?? null };
  },
});

if (history !== undefined) {
  // The last message is the one being submitted, the rest is the history.
  const last = history[history.length - 1];
  chat.messages = structuredClone(history.slice(0, -1));
  await chat.sendMessage(structuredClone(last), extraBody !== undefined ? { body: extraBody } : undefined);
} else {
  await chat.sendMessage({ text: prompt }, extraBody !== undefined ? { body: extraBody } : undefined);
}
await readerDone;

writeAndExit(safeJson(result()) + "\n", EXIT_OK);
