#!/usr/bin/env node
// Parse a raw SSE response body with eventsource-parser, the parser browsers'
// EventSource polyfills and the Vercel AI SDK build on.
//
//   node clients/sse_parse.mjs [--comments] [--errors] [--strict]
//                              [--chunk-size N] [--timeout SECONDS] < body
//
// stdin: the bytes of an SSE response body. They are fed to createParser() in
// the chunks they are read in (or re-cut into N-byte chunks with --chunk-size,
// to exercise frames split at any byte), decoded as streaming UTF-8 without
// dropping a BOM, so the parser's own BOM handling is what is tested.
//
// stdout: one JSON object per line, in stream order:
//   {"event": string|null, "id": string|null, "data": string}   a dispatched event
//   {"retry": number}                                           a valid retry: field
//   {"comment": string}                                         with --comments only
//   {"parse_error": {"type", "message", "field", "value", "line"}}
//                                                               with --errors only
// An event still unterminated at end of input is dropped, as browsers do.
// --strict: exit 1 if the parser reported any error (unknown field, bad retry).

import {
  EXIT_FAIL,
  EXIT_OK,
  armTimeout,
  complain,
  guardStdout,
  importDep,
  installCrashGuards,
  parseArgs,
  timeoutSeconds,
  usageError,
  writeAndExit,
} from "./_common.mjs";

const USAGE =
  "usage: node clients/sse_parse.mjs [--comments] [--errors] [--strict] [--chunk-size N] [--timeout SECONDS] < body";

installCrashGuards();
guardStdout();

const { positional, flags, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(["comments", "errors", "strict"]), options: new Set(["chunk-size", "timeout"]) },
  USAGE,
);
if (positional.length) usageError(`unexpected argument ${positional[0]}`, USAGE);
let chunkSize = 0;
if (options["chunk-size"] !== undefined) {
  chunkSize = Number(options["chunk-size"]);
  if (!Number.isInteger(chunkSize) || chunkSize < 1) usageError("--chunk-size must be a positive integer", USAGE);
}

const lines = [];
armTimeout(timeoutSeconds(options, USAGE), () => lines.join(""));

const { createParser } = await importDep("eventsource-parser");

let errorCount = 0;
const emit = (obj) => lines.push(JSON.stringify(obj) + "\n");

const parser = createParser({
  onEvent(ev) {
    emit({ event: ev.event ?? null, id: ev.id ?? null, data: ev.data });
  },
  onRetry(retry) {
    emit({ retry });
  },
  onComment(comment) {
    if (flags.comments) emit({ comment });
  },
  onError(err) {
    errorCount++;
    if (flags.errors) {
      emit({
        parse_error: {
          type: err.type ?? null,
          message: err.message,
          field: err.field ?? null,
          value: err.value ?? null,
          line: err.line ?? null,
        },
      });
    }
  },
});

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const feedBytes = (bytes) => {
  const text = decoder.decode(bytes, { stream: true });
  if (text) parser.feed(text);
};

for await (const chunk of process.stdin) {
  if (chunkSize) {
    for (let i = 0; i < chunk.length; i += chunkSize) feedBytes(chunk.subarray(i, i + chunkSize));
  } else {
    feedBytes(chunk);
  }
}
const tail = decoder.decode();
if (tail) parser.feed(tail);

if (flags.strict && errorCount) {
  complain(`${errorCount} parse error(s) (rerun with --errors to see them)`);
  writeAndExit(lines.join(""), EXIT_FAIL);
} else {
  writeAndExit(lines.join(""), EXIT_OK);
}
