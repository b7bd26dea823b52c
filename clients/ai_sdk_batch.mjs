#!/usr/bin/env node
// Read many Vercel AI SDK UI message streams in one process, each the way useChat does:
// DefaultChatTransport (parseJsonEventStream + uiMessageChunkSchema) then readUIMessageStream.
//
//   node clients/ai_sdk_batch.mjs [--timeout SECONDS] < bodies.json
//
// stdin: a JSON array of SSE bodies (strings).
// stdout: a JSON array, one entry per body, in order:
//   {"errors": [string], "message": UIMessage|null, "chunks": [UIMessageChunk]}
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

const USAGE = "usage: node clients/ai_sdk_batch.mjs [--timeout SECONDS] < bodies.json";

installCrashGuards();
guardStdout();
const { options } = parseArgs(process.argv.slice(2), { options: new Set(["timeout"]) }, USAGE);
const results = [];
armTimeout(timeoutSeconds(options, USAGE, 120), () => safeJson(results) + "\n");

const { DefaultChatTransport, readUIMessageStream } = await importDep("ai");
const bodies = JSON.parse(new TextDecoder().decode(await readStdinBytes()));

for (const body of bodies) {
  const errors = [];
  const chunks = [];
  let message = null;
  try {
    const transport = new DefaultChatTransport({
      api: "http://stdin.invalid/api/chat",
      fetch: async () =>
        new Response(body, {
          status: 200,
          headers: { "content-type": "text/event-stream", "x-vercel-ai-ui-message-stream": "v1" },
        }),
    });
    const stream = await transport.sendMessages({
      chatId: "batch",
      messages: [{ id: "user-1", role: "user", parts: [{ type: "text", text: "Hello" }] }],
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: undefined,
    });
    const tapped = stream.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          chunks.push(structuredClone(chunk));
          controller.enqueue(chunk);
        },
      }),
    );
    for await (const snapshot of readUIMessageStream({ stream: tapped, onError: (e) => errors.push(errorToString(e)) })) {
      message = structuredClone(snapshot);
    }
  } catch (err) {
    errors.push(errorToString(err));
  }
  results.push({ errors, message, chunks });
}

writeAndExit(safeJson(results) + "\n", EXIT_OK);
