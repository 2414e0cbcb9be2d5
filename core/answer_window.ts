/** What the server answered about one message, kept to answer a resend the same way. */
export interface Answer {
  /** The message's recipient. */
  dst: string;
  /** A hash of its payload, or `ANY_PAYLOAD`. */
  hash: number;
  /** The code given ("200", "300", …); updated when a stored message is delivered. */
  code: string;
}

/** An `Answer.hash` that matches any payload (a receipt's message is no longer stored). */
export const ANY_PAYLOAD = -1;

/**
 * The answers recently given to one sender, by messageId: at least the last `size`, at most twice
 * that. Two generations of maps, so that remembering costs one `Map.set` and forgetting the old
 * half costs nothing per message.
 */
export class AnswerWindow {
  #size: number;
  #current = new Map<number, Answer>();
  #previous = new Map<number, Answer>();

  constructor(size: number) {
    this.#size = size;
  }

  /** The answer given about `id`, if still remembered. */
  get(id: number): Answer | undefined {
    return this.#current.get(id) ?? this.#previous.get(id);
  }

  /** Remembers `answer` about `id`. */
  set(id: number, answer: Answer): void {
    this.#current.set(id, answer);
    if (this.#current.size >= this.#size) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
  }
}
