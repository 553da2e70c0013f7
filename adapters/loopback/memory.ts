/**
 * An in-process destination for unit tests (`memory://<name>`): it records each message's effect
 * once, by (`source`, `id`), as a real destination must, and answers from a script, so a test can
 * say "fail twice, then ask for a minute's pause, then accept" without a socket or a sleep.
 *
 * Answers are written in HTTP terms (a status and a `Retry-After`) and classified by the same
 * function as real HTTP answers, so the engine tests exercise the classification the sink server's
 * tests exercise over the wire.
 */
import type { DeliveryRequest } from '../adapter.ts';

/**
 * One scripted answer:
 * - `ok`: records the effect (once) and answers 200;
 * - `down`: no connection, nothing recorded (a network error);
 * - `hang`: no answer until the attempt is aborted;
 * - `lost-ack`: records the effect, then the connection drops before the answer (a crash between
 *   the effect and the switch hearing of it);
 * - `{status, retryAfter?}`: answers that status (a 2xx records the effect).
 */
export type SinkStep = 'ok' | 'down' | 'hang' | 'lost-ack' | { readonly status: number; readonly retryAfter?: string };

/** A recorded effect: the first delivery of a message, and how many deliveries of it arrived. */
export interface SinkEffect {
  readonly source: string;
  readonly id: string;
  readonly received: number;
}

/** What the sink did with one delivery. */
export type SinkReply = { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string } | { readonly kind: 'no-answer' } | { readonly kind: 'aborted' };

export interface MemorySink {
  readonly name: string;
  /** Appends answers for the next deliveries, in order. */
  script(...steps: SinkStep[]): void;
  /** The answer once the script is used up (default `ok`); `down` takes the sink down. */
  fallback: SinkStep;
  /** Deliveries that reached the sink (every attempt, duplicates included). */
  readonly received: number;
  readonly inFlight: number;
  /** Effects in the order they happened, each message once. */
  effects(): SinkEffect[];
  /** Handles one delivery; the loopback adapter calls it. */
  receive(request: DeliveryRequest): Promise<SinkReply>;
}

export function createMemorySink(name: string): MemorySink {
  return new Sink(name);
}

class Sink implements MemorySink {
  readonly name: string;
  fallback: SinkStep = 'ok';
  readonly #steps: SinkStep[] = [];
  readonly #effects = new Map<string, { source: string; id: string; received: number }>();
  #received = 0;
  #inFlight = 0;

  constructor(name: string) {
    this.name = name;
  }

  get received(): number {
    return this.#received;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  script(...steps: SinkStep[]): void {
    this.#steps.push(...steps);
  }

  effects(): SinkEffect[] {
    return [...this.#effects.values()].map((e) => ({ ...e }));
  }

  async receive(request: DeliveryRequest): Promise<SinkReply> {
    const step = this.#steps.shift() ?? this.fallback;
    if (step === 'down') return { kind: 'no-answer' };
    this.#received++;
    const { source, id } = request.envelope;
    const record = (): void => {
      const key = `${source}\u0000${id}`;
      const effect = this.#effects.get(key);
      if (effect === undefined) this.#effects.set(key, { source, id, received: 1 });
      else effect.received++;
    };
    if (step === 'hang') {
      this.#inFlight++;
      await new Promise<void>((resolve) => {
        if (request.signal.aborted) resolve();
        else request.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.#inFlight--;
      return { kind: 'aborted' };
    }
    if (step === 'lost-ack') {
      record();
      return { kind: 'no-answer' };
    }
    const status = step === 'ok' ? 200 : step.status;
    if (status >= 200 && status < 300) record();
    return step === 'ok' || step.retryAfter === undefined ? { kind: 'status', status } : { kind: 'status', status, retryAfter: step.retryAfter };
  }
}
