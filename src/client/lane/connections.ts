/**
 * The data lane's connections: an undici `Agent`, loaded when the lane starts. Loading
 * undici costs about 150 ms of CPU, more than the SDK spends on a hundred small requests,
 * so a client that sends a few requests (a no-op sync is one LIST; `cp` of one file is a
 * HEAD and a GET) never loads it: the lane starts after `startAfter` transfers, in the
 * background, and requests go through the SDK until it is ready.
 *
 * @packageDocumentation
 */
import type { Agent } from 'undici';

/** How the lane's connections are opened. */
export interface ConnectionSettings {
  /** The connect and idle timeouts, in ms (`0`: none). */
  readonly timeouts: { readonly connectMs: number; readonly idleMs: number };
  /** Open connections per server, at most (keep-alive ones included). */
  readonly connections: number;
  /**
   * Transfers (GET, PUT, HEAD, UploadPart) sent through the SDK before the lane loads; `0`
   * loads it at once, and every request waits for it.
   * @default 8
   */
  readonly startAfter?: number | undefined;
}

/** The default of {@link ConnectionSettings.startAfter}. */
export const DEFAULT_START_AFTER = 8;

/** How long an idle keep-alive connection stays open. */
const KEEP_ALIVE_MS = 4_000;

/** The lane's undici agent, loaded on demand. */
export class LaneConnections {
  readonly #settings: ConnectionSettings;
  readonly #startAfter: number;
  #agent: Agent | undefined;
  #loading: Promise<Agent | undefined> | undefined;
  #transfers = 0;
  #destroyed = false;

  constructor(settings: ConnectionSettings) {
    this.#settings = settings;
    this.#startAfter = settings.startAfter ?? DEFAULT_START_AFTER;
    if (this.#startAfter === 0) void this.#load();
  }

  /**
   * The agent to send through, or `undefined` while the lane has not started: then the
   * request goes through the SDK. A transfer counts towards starting it.
   */
  async agent(transfer: boolean): Promise<Agent | undefined> {
    if (this.#agent !== undefined) return this.#agent;
    if (this.#startAfter === 0) return this.#load();
    if (transfer && ++this.#transfers >= this.#startAfter) void this.#load();
    return undefined;
  }

  #load(): Promise<Agent | undefined> {
    this.#loading ??= import('undici').then(
      ({ Agent: AgentClass }) => {
        if (this.#destroyed) return undefined;
        const { connectMs, idleMs } = this.#settings.timeouts;
        this.#agent = new AgentClass({
          connections: this.#settings.connections,
          connect: { timeout: connectMs },
          headersTimeout: idleMs,
          bodyTimeout: idleMs,
          keepAliveTimeout: KEEP_ALIVE_MS,
        });
        return this.#agent;
      },
      // Without undici the SDK carries every request.
      () => undefined,
    );
    return this.#loading;
  }

  /** The agent, once loaded (after {@link agent} said so). */
  get loaded(): Agent | undefined {
    return this.#agent;
  }

  /** Closes the connections; the lane does not start after this. */
  destroy(): void {
    this.#destroyed = true;
    void this.#agent?.destroy().catch(() => undefined);
  }
}
