#!/usr/bin/env node
// Drive a chat page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core) as a person would, and record what the answer looked like
// while it streamed in.
//
//   node clients/browser.mjs URL OUT_PNG [--prompt TEXT] [--answer approve|reject] [--watch SELECTOR] [--timeout SECONDS]
//
// The page under test must provide these elements:
//   #prompt          a text input or textarea the prompt is typed into
//   #send            a button that starts the request when clicked
//   #answer          the element whose text content is the streamed answer
//   #status          its text content becomes exactly "done" or "error" when
//                    the stream is over (anything else while it runs)
//   .tool-indicator  (optional) an element shown while a tool call is running
//
// Steps: launch with a fresh profile, open URL, type --prompt (default
// "What is the weather in Paris?") into #prompt, click #send, then every 20 ms
// record the text content of #answer whenever it differs from the last value
// recorded, and whether any .tool-indicator is visible, until #status reads
// "done" or "error" (--timeout, default 30 s). Then a full-page screenshot is
// written to OUT_PNG.
//
// With --answer, the run is expected to pause for an approval: the driver waits
// for #status to read "waiting" and for a `.step.approval button.approve` (or
// `.reject`), records the approval cards, clicks the button like a person, and
// then waits for "done" or "error" as above.
//
// With --watch SELECTOR, the text content of the first element matching
// SELECTOR is recorded too, at the same polls, each distinct value once
// ("watched"; the element may appear only while the run goes on).
//
// stdout: one JSON object
//   {
//     "states":      [string],  each distinct #answer text, in order ("" first
//                               if the answer started empty)
//     "tool_seen":   bool,      a .tool-indicator was visible at some poll
//     "status":      string,    final #status text ("done", "error", or what it
//                               was when the wait timed out)
//     "final":       string,    #answer text at the end
//     "timed_out":   bool,      #status never became done/error in time
//     "approvals":   [string],  (with --answer) the text of each approval card
//                               while the run waited, before the click
//     "answered":    bool,      (with --answer) the button was clicked
//     "watched":     [string],  (with --watch) each distinct text of SELECTOR
//     "page_errors": [string],  uncaught exceptions in the page
//     "console_errors": [string] console.error messages of the page
//   }
// Exit 0 when #status reached done or error (whichever), 3 when it did not
// (the JSON and the screenshot are still written), 1 when the page could not
// be driven at all (no such element, browser failed to start).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  EXIT_FAIL,
  EXIT_OK,
  EXIT_TIMEOUT,
  armTimeout,
  checkHttpUrl,
  complain,
  errorToString,
  guardStdout,
  importDep,
  installCrashGuards,
  parseArgs,
  timeoutSeconds,
  usageError,
  writeAndExit,
} from "./_common.mjs";

const USAGE =
  "usage: node clients/browser.mjs URL OUT_PNG [--prompt TEXT] [--answer approve|reject] [--watch SELECTOR] [--timeout SECONDS]";
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const POLL_MS = 20;

installCrashGuards();
guardStdout();

const { positional, options } = parseArgs(
  process.argv.slice(2),
  { flags: new Set(), options: new Set(["prompt", "answer", "watch", "timeout"]) },
  USAGE,
);
if (positional.length !== 2) usageError("give URL and OUT_PNG", USAGE);
const url = checkHttpUrl(positional[0], USAGE);
const outPng = resolve(positional[1]);
if (!outPng.endsWith(".png")) usageError("OUT_PNG must end in .png", USAGE);
const prompt = options.prompt ?? "What is the weather in Paris?";
const answer = options.answer;
if (answer !== undefined && answer !== "approve" && answer !== "reject") usageError("--answer is approve or reject", USAGE);
const waitSeconds = timeoutSeconds(options, USAGE);
const watch = options.watch;

const pageErrors = [];
const consoleErrors = [];
let context;
let profileDir;

async function cleanup() {
  try {
    await context?.close();
  } catch {
    // the browser may already be gone
  }
  if (profileDir) await rm(profileDir, { recursive: true, force: true }).catch(() => {});
}

// Room on top of the status wait for launching, typing and the screenshot.
armTimeout(waitSeconds + 20, () => {
  if (profileDir) {
    // Best effort; the process exits right after.
    rm(profileDir, { recursive: true, force: true }).catch(() => {});
  }
  return "";
});

const { chromium } = await importDep("playwright-core");

async function main() {
  profileDir = await mkdtemp(join(tmpdir(), "agentstream-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 700 },
    timeout: 20_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (err) => pageErrors.push(errorToString(err)));
  page.on("console", (msg) => {
    // The browser's own request for /favicon.ico is not the page's doing.
    if (msg.type() === "error" && !/\/favicon\.ico$/.test(msg.location()?.url ?? "")) consoleErrors.push(msg.text());
  });

  const response = await page.goto(url, { waitUntil: "load", timeout: 15_000 });
  if (response && !response.ok()) throw new Error(`GET ${url} answered HTTP ${response.status()}`);

  for (const selector of ["#prompt", "#send", "#answer", "#status"]) {
    if ((await page.$(selector)) === null) throw new Error(`the page has no ${selector} element`);
  }

  await page.fill("#prompt", prompt, { timeout: 5_000 });

  // The recorder runs inside the page so that no state is missed between two
  // round trips to the browser.
  await page.evaluate(([pollMs, watchSelector]) => {
    const rec = { states: [], watched: [], toolSeen: false, timer: 0 };
    const visible = (el) => {
      const style = getComputedStyle(el);
      if (style.visibility === "hidden" || style.display === "none" || Number(style.opacity) === 0) return false;
      const rect = el.getBoundingClientRect();
      return rect.width > 0 && rect.height > 0 && (el.checkVisibility ? el.checkVisibility() : true);
    };
    const poll = () => {
      const answer = document.querySelector("#answer");
      const text = answer ? answer.textContent ?? "" : "";
      if (rec.states.length === 0 || rec.states[rec.states.length - 1] !== text) rec.states.push(text);
      const watched = watchSelector ? document.querySelector(watchSelector) : null;
      if (watched) {
        const value = watched.textContent ?? "";
        if (rec.watched.at(-1) !== value) rec.watched.push(value);
      }
      if (!rec.toolSeen) {
        for (const el of document.querySelectorAll(".tool-indicator")) {
          if (visible(el)) {
            rec.toolSeen = true;
            break;
          }
        }
      }
    };
    rec.poll = poll;
    poll();
    rec.timer = setInterval(poll, pollMs);
    window.__agentstreamRecorder = rec;
  }, [POLL_MS, watch ?? null]);

  await page.click("#send", { timeout: 5_000 });

  let approvals = [];
  let answered = false;
  if (answer !== undefined) {
    await page.waitForFunction(
      () => (document.querySelector("#status")?.textContent ?? "").trim() === "waiting",
      undefined,
      { timeout: waitSeconds * 1000, polling: POLL_MS },
    );
    const button = `.step.approval button.${answer}`;
    await page.waitForSelector(button, { state: "visible", timeout: 5_000 });
    approvals = await page.$$eval(".step.approval", (items) => items.map((el) => (el.textContent ?? "").trim()));
    await page.click(button, { timeout: 5_000 });
    answered = true;
  }

  let timedOut = false;
  try {
    await page.waitForFunction(
      () => {
        const s = document.querySelector("#status");
        const text = s ? (s.textContent ?? "").trim() : "";
        return text === "done" || text === "error";
      },
      undefined,
      { timeout: waitSeconds * 1000, polling: POLL_MS },
    );
  } catch (err) {
    if (err && err.name === "TimeoutError") timedOut = true;
    else throw err;
  }

  const recorded = await page.evaluate(() => {
    const rec = window.__agentstreamRecorder;
    rec.poll(); // one last look, so the final value is always recorded
    clearInterval(rec.timer);
    const s = document.querySelector("#status");
    const a = document.querySelector("#answer");
    return {
      states: rec.states,
      watched: rec.watched,
      toolSeen: rec.toolSeen,
      status: s ? (s.textContent ?? "").trim() : "",
      final: a ? a.textContent ?? "" : "",
    };
  });

  await page.screenshot({ path: outPng, fullPage: true, timeout: 10_000 });

  return {
    states: recorded.states,
    tool_seen: recorded.toolSeen,
    status: recorded.status,
    final: recorded.final,
    timed_out: timedOut,
    ...(answer !== undefined ? { approvals, answered } : {}),
    ...(watch !== undefined ? { watched: recorded.watched } : {}),
    page_errors: pageErrors,
    console_errors: consoleErrors,
  };
}

let output;
try {
  output = await main();
} catch (err) {
  await cleanup();
  complain(errorToString(err));
  writeAndExit("", EXIT_FAIL);
}
if (output) {
  await cleanup();
  if (output.timed_out) complain(`#status did not become "done" or "error" within ${waitSeconds} s`);
  writeAndExit(JSON.stringify(output) + "\n", output.timed_out ? EXIT_TIMEOUT : EXIT_OK);
}
