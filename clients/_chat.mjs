// The chat state useChat keeps (a snapshot on every write), for the scripts that drive the `ai`
// package's AbstractChat outside React.

export class PlainChatState {
  constructor() {
    this.status = "ready";
    this.error = undefined;
    this.messages = [];
  }
  snapshot = (thing) => structuredClone(thing);
  pushMessage = (message) => {
    this.messages = this.messages.concat(this.snapshot(message));
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index, message) => {
    this.messages = [...this.messages.slice(0, index), this.snapshot(message), ...this.messages.slice(index + 1)];
  };
}

/** A Chat class on `AbstractChat` (from the `ai` package) that keeps its state in a PlainChatState. */
export function plainChat(AbstractChat) {
  return class Chat extends AbstractChat {
    constructor(init) {
      super({ ...init, state: new PlainChatState() });
    }
  };
}
