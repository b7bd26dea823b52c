// Shared plumbing for the client CLIs in this folder: argument parsing, a hard
// timeout, clean JSON on stdout, and clear failures on stderr.
//
// Exit codes used by every script:
//   0  the client ran to the end (whatever it reported is in the JSON)
//   1  the harness itself failed (bad input it cannot run on, crash)
//   2  usage error
//   3  hard timeout (partial JSON, if the script has any, is still printed)
//   4  a dependency is missing (run scripts/install-test-deps.sh)

import process from "node:process";
import { inspect } from "node:util";

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;
export const EXIT_TIMEOUT = 3;
export const EXIT_MISSING_DEP = 4;

const scriptName = process.argv[1] ? process.argv[1].split("/").pop() : "client";

let exiting = false;

/** Write text to stdout, then exit with `code` once it has been flushed. */
export function writeAndExit(text, code = EXIT_OK) {
  if (exiting) return;
  exiting = true;
  if (text === undefined || text === null || text === "") {
    process.exit(code);
  }
  process.stdout.write(text, () => process.exit(code));
}

/** Print one message on stderr, prefixed with the script's name. */
export function complain(message) {
  // Some libraries colour their messages even when stderr is not a terminal.
  process.stderr.write(`${scriptName}: ${String(message).replace(/\x1b\[[0-9;]*m/g, "")}\n`);
}

/** Print a message on stderr and exit with `code` (no stdout). */
export function fail(message, code = EXIT_FAIL) {
  complain(message);
  writeAndExit("", code);
}

/**
 * Keep stdout for the JSON result alone: libraries that log through
 * console.log/info/debug are sent to stderr. console.warn/error already go
 * to stderr; `onWarn`, if given, also receives every console.warn message.
 */
export function guardStdout({ onWarn } = {}) {
  const toStderr = (...args) => {
    process.stderr.write(args.map((a) => (typeof a === "string" ? a : inspect(a))).join(" ") + "\n");
  };
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  if (onWarn) {
    const warn = console.warn.bind(console);
    console.warn = (...args) => {
      onWarn(args.map((a) => (typeof a === "string" ? a : inspect(a))).join(" "));
      warn(...args);
    };
  }
}

/**
 * Arm the hard timeout. When it fires, `onTimeout()` may return text (partial
 * JSON) to print on stdout; the process then exits with EXIT_TIMEOUT.
 */
export function armTimeout(seconds, onTimeout) {
  const timer = setTimeout(() => {
    complain(`timed out after ${seconds} s`);
    let text = "";
    try {
      text = onTimeout ? onTimeout() ?? "" : "";
    } catch (err) {
      complain(`could not build partial output: ${errorToString(err)}`);
    }
    writeAndExit(text, EXIT_TIMEOUT);
  }, seconds * 1000);
  return timer;
}

/** Crash guard: any uncaught error ends the process with a clear message. */
export function installCrashGuards() {
  process.on("uncaughtException", (err) => fail(`uncaught error: ${errorToString(err, true)}`));
  process.on("unhandledRejection", (err) => fail(`unhandled rejection: ${errorToString(err, true)}`));
}

/** Import a package from clients/node_modules, or exit 4 with a hint. */
export async function importDep(name) {
  try {
    return await import(name);
  } catch (err) {
    if (err && (err.code === "ERR_MODULE_NOT_FOUND" || err.code === "MODULE_NOT_FOUND")) {
      fail(
        `cannot load '${name}' (${err.message.split("\n")[0]}); ` +
          "install the clients first: scripts/install-test-deps.sh (or npm ci --prefix clients)",
        EXIT_MISSING_DEP,
      );
      // fail() exits asynchronously once stderr is written; never resolve.
      return new Promise(() => {});
    }
    throw err;
  }
}

/** "Name: message" for an Error, String(x) for anything else. */
export function errorToString(err, withStack = false) {
  if (err instanceof Error) {
    if (withStack && err.stack) return err.stack;
    const name = err.name && err.name !== "Error" ? err.name : "Error";
    let text = `${name}: ${err.message}`;
    if (err.cause !== undefined && err.cause !== null) {
      text += ` (cause: ${err.cause instanceof Error ? err.cause.message : String(err.cause)})`;
    }
    return text;
  }
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/**
 * Minimal argument parser.
 * spec: { flags: Set of boolean option names, options: Set of valued option names }
 * Returns { positional: [...], flags: {name: true}, options: {name: value} }.
 * Unknown options are a usage error.
 */
export function parseArgs(argv, spec, usage) {
  const positional = [];
  const flags = {};
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(usage + "\n");
      process.exit(EXIT_OK);
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (spec.flags?.has(name)) {
        if (eq !== -1) usageError(`--${name} takes no value`, usage);
        flags[name] = true;
      } else if (spec.options?.has(name)) {
        let value;
        if (eq !== -1) value = arg.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else usageError(`--${name} needs a value`, usage);
        options[name] = value;
      } else {
        usageError(`unknown option ${arg}`, usage);
      }
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags, options };
}

export function usageError(message, usage) {
  process.stderr.write(`${scriptName}: ${message}\n${usage}\n`);
  process.exit(EXIT_USAGE);
}

/** Parse --timeout SECONDS (default 30). */
export function timeoutSeconds(options, usage, fallback = 30) {
  if (options.timeout === undefined) return fallback;
  const value = Number(options.timeout);
  if (!Number.isFinite(value) || value <= 0) usageError("--timeout must be a positive number of seconds", usage);
  return value;
}

/** Parse a JSON option value, or exit with a usage error naming the option. */
export function jsonOption(options, name, usage) {
  if (options[name] === undefined) return undefined;
  try {
    return JSON.parse(options[name]);
  } catch (err) {
    usageError(`--${name} is not valid JSON: ${err.message}`, usage);
  }
}

/** The whole of stdin as one Uint8Array. */
export async function readStdinBytes() {
  const parts = [];
  for await (const chunk of process.stdin) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

/** Check that a URL is http(s). */
export function checkHttpUrl(url, usage) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    usageError(`not a URL: ${url}`, usage);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    usageError(`URL must be http(s): ${url}`, usage);
  }
  return url;
}

/** JSON.stringify that turns BigInt into strings and Errors into "Name: message". */
export function safeJson(value) {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Error) return errorToString(v);
    return v;
  });
}
