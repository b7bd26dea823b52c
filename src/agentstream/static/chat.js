// The agentstream demo chat: POST the prompt, read the SSE answer with fetch(), show it live.
// A run that waits for an approval shows Approve and Reject buttons; the answer is POSTed and
// the rest of the same run streams into the same answer.
// Plain JavaScript, no build step: copy what you need into your own frontend.

/**
 * A minimal incremental SSE parser (WHATWG rules for the fields agentstream sends).
 * feed() takes decoded text split anywhere; onEvent({event, data, id}) runs per complete frame.
 * Each chunk is scanned once, so a large frame costs time in proportion to its size. A line or
 * an event's data longer than maxChars (16 Mi characters, the library's decoders' limit) throws.
 */
export function createSSEParser(onEvent, { maxChars = 16 * 1024 * 1024 } = {}) {
  let pending = []; // the pieces of the line not yet ended
  let pendingChars = 0;
  let afterCR = false; // the last chunk ended in CR: a LF that starts the next one is its CRLF
  let event = "";
  let data = [];
  let dataChars = 0;
  let id = "";
  const tooLong = () => new Error(`an SSE line or event is longer than ${maxChars} characters`);
  const line = (text) => {
    if (text === "") {
      if (data.length) onEvent({ event: event || "message", data: data.join("\n"), id });
      event = "";
      data = [];
      dataChars = 0;
      return;
    }
    if (text.startsWith(":")) return; // a comment: the server's heartbeat
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") {
      dataChars += value.length + 1;
      if (dataChars > maxChars) throw tooLong();
      data.push(value);
    } else if (field === "id" && !value.includes("\0")) id = value;
  };
  return {
    feed(chunk) {
      if (afterCR && chunk.startsWith("\n")) chunk = chunk.slice(1);
      if (chunk === "") return;
      afterCR = chunk.endsWith("\r");
      const parts = chunk.split(/\r\n|\r|\n/);
      const rest = parts.pop();
      if (parts.length) {
        pending.push(parts[0]);
        parts[0] = pending.join("");
        pending = [];
        pendingChars = 0;
        for (const part of parts) line(part);
      }
      if (rest) {
        pendingChars += rest.length;
        if (pendingChars > maxChars) throw tooLong();
        pending.push(rest);
      }
    },
  };
}

const $ = (selector) => document.querySelector(selector);

const ui = {
  form: $("#chat"),
  prompt: $("#prompt"),
  send: $("#send"),
  steps: $("#steps"),
  indicator: $(".tool-indicator"),
  toolName: $("#tool-name"),
  answer: $("#answer"),
  answerAgent: $("#answer-agent"),
  error: $("#error"),
  status: $("#status"),
  usage: $("#usage"),
};

let controller = null;

function setStatus(state) {
  ui.status.textContent = state;
  ui.status.dataset.state = state;
  ui.answer.classList.toggle("streaming", state === "streaming");
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function formatUsage(usage) {
  const calls = `${usage.requests} model call${usage.requests === 1 ? "" : "s"}`;
  return `${calls} · ${usage.total_tokens} tokens (${usage.input_tokens} in, ${usage.output_tokens} out)`;
}

function addStep(kind, tag, text) {
  const item = document.createElement("li");
  item.className = `step ${kind}`;
  const label = document.createElement("span");
  label.className = "tag";
  label.textContent = tag;
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = text;
  item.append(label, body);
  ui.steps.append(item);
  return body;
}

function preview(value, limit = 160) {
  let text;
  if (value && typeof value === "object" && !Array.isArray(value)) {
    text = Object.entries(value)
      .map(([key, item]) => `${key}: ${typeof item === "string" ? item : JSON.stringify(item)}`)
      .join(", ");
  } else {
    text = typeof value === "string" ? value : JSON.stringify(value);
  }
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/**
 * The approval cards of one run: one card per call that waits, with Approve and Reject buttons.
 * When every card has a decision, `onAnswered(answers)` gets them all at once.
 */
function createApprovals(onAnswered) {
  const waiting = new Map(); // call_id -> {buttons, decision}
  const decide = (callId, approved) => {
    const card = waiting.get(callId);
    if (!card || card.decision !== null) return;
    card.decision = approved;
    for (const button of card.buttons) button.disabled = true;
    card.verdict.textContent = approved ? "approved" : "rejected";
    card.item.classList.add(approved ? "approved" : "rejected");
    const answers = [...waiting.entries()].map(([call_id, c]) => ({
      call_id,
      approved: c.decision,
      ...(c.decision === false ? { reason: "The person at the page rejected this call." } : {}),
    }));
    if (answers.every((a) => a.approved !== null)) {
      waiting.clear();
      onAnswered(answers);
    }
  };
  return {
    ask(ev) {
      const body = addStep("approval", "approval", "");
      const item = body.parentElement;
      const title = document.createElement("code");
      title.textContent = ev.name;
      const args = document.createElement("span");
      args.className = "args";
      args.textContent = ev.arguments;
      const verdict = document.createElement("span");
      verdict.className = "verdict";
      verdict.textContent = "waits for your approval";
      const approve = document.createElement("button");
      approve.type = "button";
      approve.className = "approve";
      approve.textContent = "Approve";
      approve.setAttribute("aria-label", `Approve ${ev.name} ${ev.arguments}`);
      const reject = document.createElement("button");
      reject.type = "button";
      reject.className = "reject";
      reject.textContent = "Reject";
      reject.setAttribute("aria-label", `Reject ${ev.name} ${ev.arguments}`);
      approve.addEventListener("click", () => decide(ev.call_id, true));
      reject.addEventListener("click", () => decide(ev.call_id, false));
      const actions = document.createElement("span");
      actions.className = "actions";
      actions.append(approve, reject);
      body.append(title, " ", args, " ", verdict, actions);
      waiting.set(ev.call_id, { item, buttons: [approve, reject], verdict, decision: null });
      approve.focus();
    },
  };
}

/** Renders one run's events; returns the final `done` event when it comes. */
function createRenderer(approvals) {
  const calls = new Map(); // call_id -> {args, result elements}
  const running = new Set();
  let reasoning = null;
  const refreshIndicator = () => {
    ui.indicator.hidden = running.size === 0;
    if (running.size) ui.toolName.textContent = calls.get([...running].at(-1)).name;
  };
  const toolStep = (callId, name) => {
    if (!calls.has(callId)) {
      const body = addStep("tool", "tool", "");
      const title = document.createElement("code");
      title.textContent = name;
      const args = document.createElement("span");
      args.className = "args";
      const progress = document.createElement("span");
      progress.className = "progress";
      progress.hidden = true;
      const result = document.createElement("span");
      result.className = "result";
      result.hidden = true;
      // An agent called as a tool: its run (tools, progress, streamed answer) shows in here.
      const nested = document.createElement("div");
      nested.className = "nested";
      nested.hidden = true;
      const nestedAgent = document.createElement("div");
      nestedAgent.className = "nested-agent";
      const nestedSteps = document.createElement("ul");
      nestedSteps.className = "nested-steps";
      const nestedText = document.createElement("div");
      nestedText.className = "nested-text";
      nested.append(nestedAgent, nestedSteps, nestedText);
      body.append(title, " ", args, progress, nested, result);
      calls.set(callId, { name, args, progress, result, nested, nestedAgent, nestedSteps, nestedText, inner: new Map() });
    }
    return calls.get(callId);
  };
  const showProgress = (element, ev) => {
    const fraction = ev.total ? ` ${Math.round((100 * (ev.completed ?? 0)) / ev.total)}%` : "";
    element.textContent = `${ev.message ?? ev.stage}${fraction}`;
    element.hidden = false;
  };
  // Events of a nested run (schema 1.2: `path` names the calls it runs in): drawn in the card
  // of the outermost call, one level deep.
  const renderNested = (ev) => {
    const card = calls.get(ev.path[0]);
    if (!card) return;
    card.nested.hidden = false;
    if (ev.agent) card.nestedAgent.textContent = ev.agent;
    switch (ev.type) {
      case "text_delta":
        card.nestedText.append(ev.delta);
        break;
      case "tool_called": {
        const line = document.createElement("li");
        const name = document.createElement("code");
        name.textContent = ev.name;
        const progress = document.createElement("span");
        progress.className = "progress";
        progress.hidden = true;
        const result = document.createElement("span");
        result.className = "result";
        line.append(name, " ", ev.arguments, progress, result);
        card.nestedSteps.append(line);
        card.inner.set(ev.call_id, { progress, result });
        break;
      }
      case "tool_progress":
        if (card.inner.has(ev.call_id)) showProgress(card.inner.get(ev.call_id).progress, ev);
        break;
      case "tool_output":
        if (card.inner.has(ev.call_id)) card.inner.get(ev.call_id).result.textContent = preview(ev.output, 80);
        break;
      default:
        break;
    }
  };
  return (ev) => {
    if (ev.path && ev.path.length) {
      renderNested(ev);
      return null;
    }
    switch (ev.type) {
      case "text_delta":
        if (ev.agent) ui.answerAgent.textContent = ev.agent;
        ui.answer.append(ev.delta);
        break;
      case "tool_call_started":
        toolStep(ev.call_id, ev.name);
        running.add(ev.call_id);
        refreshIndicator();
        break;
      case "tool_arguments_delta":
        if (calls.has(ev.call_id)) calls.get(ev.call_id).args.append(ev.delta);
        break;
      case "tool_called": {
        const call = toolStep(ev.call_id, ev.name);
        call.args.textContent = ev.arguments;
        running.add(ev.call_id);
        refreshIndicator();
        break;
      }
      case "tool_output": {
        const call = toolStep(ev.call_id, ev.name ?? "tool");
        call.result.textContent = preview(ev.output);
        call.result.hidden = false;
        running.delete(ev.call_id);
        refreshIndicator();
        break;
      }
      case "nested_run_started": {
        const card = toolStep(ev.call_id, ev.name);
        card.nested.hidden = false;
        card.nestedAgent.textContent = ev.nested_agent;
        break;
      }
      case "nested_run_finished":
        if (calls.has(ev.call_id)) calls.get(ev.call_id).nested.dataset.status = ev.status;
        break;
      case "tool_progress":
        showProgress(toolStep(ev.call_id, ev.name ?? "tool").progress, ev);
        break;
      case "handoff":
        addStep("handoff", "handoff", `${ev.from_agent} → ${ev.to_agent}`);
        ui.answerAgent.textContent = ev.to_agent;
        break;
      case "reasoning_delta":
        if (!reasoning) reasoning = addStep("reasoning", "thinking", "");
        reasoning.append(ev.delta);
        break;
      case "reasoning_output":
        reasoning = null;
        break;
      case "approval_requested":
        approvals.ask(ev);
        break;
      case "usage_updated":
        ui.usage.textContent = formatUsage(ev.usage);
        break;
      case "done":
        running.clear();
        refreshIndicator();
        ui.usage.textContent = formatUsage(ev.usage);
        return ev;
      default:
        break; // an event type this page does not know: newer servers may send more
    }
    return null;
  };
}

function reset() {
  ui.steps.replaceChildren();
  ui.answer.replaceChildren();
  ui.answerAgent.textContent = "assistant";
  ui.error.hidden = true;
  ui.error.textContent = "";
  ui.usage.textContent = "";
  ui.indicator.hidden = true;
}

/** POST `body` to `url` and render the SSE events of the answer; returns the run's `done`. */
async function stream(url, body, render) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  if (!response.ok) {
    const detail = await response.text();
    throw new Error(`the server answered HTTP ${response.status}: ${detail}`);
  }
  let done = null;
  const parser = createSSEParser(({ event, data }) => {
    if (event === "message") return;
    const ended = render(JSON.parse(data));
    if (ended) done = ended;
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done: finished } = await reader.read();
    if (finished) break;
    parser.feed(value);
  }
  if (!done) throw new Error("the stream ended before the run did");
  return done;
}

function streaming(on) {
  ui.send.textContent = on ? "Stop" : "Send";
  ui.send.classList.toggle("stop", on);
  if (on) {
    setStatus("streaming");
    controller = new AbortController();
  } else {
    ui.indicator.hidden = true;
    controller = null;
  }
}

/** Stream one part of a run (its start, or what follows an answer) and show how it ended. */
async function follow(url, body, render) {
  streaming(true);
  try {
    const done = await stream(url, body, render);
    if (done.status === "completed") {
      setStatus("done");
    } else if (done.status === "interrupted") {
      setStatus("waiting");
    } else {
      const why = done.error ? `${done.error.type}: ${done.error.message}` : `the run ended: ${done.status}`;
      showError(why);
      setStatus("error");
    }
  } catch (err) {
    if (err.name === "AbortError") {
      showError("Stopped: the server cancelled the run.");
      setStatus("cancelled");
    } else {
      showError(String(err.message ?? err));
      setStatus("error");
    }
  } finally {
    streaming(false);
  }
}

async function ask(prompt) {
  reset();
  let runId = null;
  let render;
  const approvals = createApprovals((answers) => {
    follow(`/api/runs/${encodeURIComponent(runId)}/answers`, { answers }, render);
  });
  const draw = createRenderer(approvals);
  render = (ev) => {
    runId = ev.run_id;
    return draw(ev);
  };
  await follow("/api/runs", { input: prompt }, render);
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (controller) {
    controller.abort();
    return;
  }
  const prompt = ui.prompt.value.trim();
  if (prompt) ask(prompt);
});
