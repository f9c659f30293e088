/**
 * A fault-injecting HTTP proxy for tests: it listens on 127.0.0.1 (an ephemeral port) and
 * forwards every request byte for byte to an upstream S3 endpoint, except the ones a rule
 * picks, which it answers with an error status, resets, stalls, truncates, corrupts, never
 * answers, drips byte by byte, or whose ListObjectsV2 listing it rewrites (a hostile server).
 *
 * The Host header is forwarded as the client sent it: SigV4 signs it, and the client signed
 * for the proxy's address. radosgw checks the signature against the Host it receives and
 * does not compare it with its own address, so signed requests pass through unchanged.
 *
 * Requests are never changed (a changed query would break their signature); listings are
 * rewritten on the way back only.
 *
 * It is bounded: after `maxRequests` requests it answers every further one with 500 and a
 * body saying so, and after `maxLifetimeMs` it closes itself and every connection.
 */
import { Transform, type TransformCallback } from 'node:stream';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a rule does to a matching request. */
export type Fault =
  /** Answers with this status and an S3 XML error body (503 SlowDown, 500 InternalError, 429). */
  | { kind: 'status'; status: 503 | 500 | 429 }
  /** Reads the request, then destroys the connection without answering. */
  | { kind: 'reset-before-headers' }
  /** Forwards the request, sends the upstream status and headers, then destroys the connection. */
  | { kind: 'reset-after-headers' }
  /** Waits `ms` (at most {@link MAX_STALL_MS}) before forwarding, or until the client goes away. */
  | { kind: 'stall'; ms: number }
  /** Forwards the response with its headers but only `afterBytes` of the body, then resets. */
  | { kind: 'truncate'; afterBytes: number }
  /** Forwards the response with the byte at `offset` of the body flipped (bitwise not). */
  | { kind: 'corrupt'; offset: number }
  /** Forwards the response headers and `afterBytes` of the body, then holds the rest until the client goes away. */
  | { kind: 'hold-response'; afterBytes: number }
  /** Forwards `afterBytes` of the request body upstream, then holds the rest until the client goes away. */
  | { kind: 'hold-request'; afterBytes: number }
  /** Reads the whole request, then never sends a byte until the client goes away. */
  | { kind: 'never-answer' }
  /** Forwards the response headers, then the body one byte every `intervalMs` (1 to {@link MAX_STALL_MS}). */
  | { kind: 'drip'; intervalMs: number }
  /**
   * Buffers the body of a successful ListObjectsV2 response (a GET with `list-type=2`, at
   * most {@link MAX_LISTING_BYTES}) and forwards what the rewriters make of it, in order,
   * with its Content-Length fixed. Any other request the rule matches passes unchanged.
   */
  | { kind: 'rewrite-listing'; rewrite: ListingRewriter | readonly ListingRewriter[] };

/** The listing request a {@link ListingRewriter} rewrites the response of. */
export interface ListingRequest {
  /** The query string, parsed. */
  query: URLSearchParams;
  /** The request's `continuation-token`; absent for the first page. */
  token: string | undefined;
}

/** Rewrites the XML body of a ListObjectsV2 response. */
export type ListingRewriter = (xml: string, request: ListingRequest) => string;

export interface FaultMatch {
  /** The HTTP method, e.g. `GET` (any when absent). */
  method?: string;
  /** Tested against the path without the query string, e.g. `/bucket/key`. */
  path?: RegExp;
  /** Tested against the query string without the `?` (empty when there is none). */
  query?: RegExp;
}

export interface FaultRule {
  match: FaultMatch;
  fault: Fault;
  /** Applies to the first `times` matching requests, then lets them pass (default: always). */
  times?: number;
}

/** One request the proxy saw. */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  /** The index of the rule that applied, if one did. */
  rule: number | undefined;
}

export interface FaultProxyOptions {
  /** The upstream endpoint, `http://host:port`. */
  target: string;
  rules?: FaultRule[];
  /** Requests served before the proxy refuses every further one (default 2,000). */
  maxRequests?: number;
  /** The proxy closes itself this long after it started (default 120 s). */
  maxLifetimeMs?: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly port: number;
  /** Every request seen, in order of arrival. */
  readonly requests: readonly SeenRequest[];
  /** How many requests rule `index` (of the current rules) was applied to. */
  applied(index: number): number;
  /** Exchanges held right now by a `hold-*` or `never-answer` fault, until their client goes away. */
  holding(): number;
  /** Replaces the rules and resets their counts (the request log is kept). */
  setRules(rules: FaultRule[]): void;
  /** Stops listening, ends every connection and stops the lifetime timer. */
  close(): Promise<void>;
}

export const MAX_STALL_MS = 30_000;

/** How much of a dripped body the proxy holds before it stops reading upstream. */
const DRIP_BUFFER = 1024 * 1024;

/** The largest listing body a `rewrite-listing` fault buffers; a larger one resets the connection. */
export const MAX_LISTING_BYTES = 16 * 1024 * 1024;

const ERROR_CODES: Record<number, { code: string; message: string }> = {
  503: { code: 'SlowDown', message: 'Please reduce your request rate.' },
  500: { code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  429: { code: 'TooManyRequests', message: 'Too many requests.' },
};

function errorBody(status: number, resource: string): string {
  const { code, message } = ERROR_CODES[status] ?? { code: 'InternalError', message: 'Error' };
  const escaped = resource.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<Resource>${escaped}</Resource><RequestId>fault-proxy</RequestId></Error>`
  );
}

/** Flips the byte at `offset` of the stream. */
class Corrupt extends Transform {
  private seen = 0;
  constructor(private readonly offset: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const start = this.seen;
    this.seen += chunk.length;
    if (this.offset >= start && this.offset < this.seen) {
      const copy = Buffer.from(chunk);
      const i = this.offset - start;
      copy[i] = ~copy[i]! & 0xff;
      done(null, copy);
      return;
    }
    done(null, chunk);
  }
}

// ---------------------------------------------------------------------------
// Listings: the XML of ListObjectsV2, rewritten with a few regular expressions. S3 and
// radosgw send flat elements; `<Contents>` blocks hold `<Key>`, `<Size>`, `<ETag>`, ...
// ---------------------------------------------------------------------------

const CONTENTS = /<Contents>[\s\S]*?<\/Contents>/g;
const RESULT_END = '</ListBucketResult>';

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[e] ?? '';
  });
}

/** The `<Contents>` blocks of a listing, in order. */
export function listingContents(xml: string): string[] {
  return xml.match(CONTENTS) ?? [];
}

/** The text of the first `<tag>` of `xml` (a listing or one block), unescaped. */
export function listingTag(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m === null ? undefined : unescapeXml(m[1]!);
}

/** `xml` with its first `<tag>` set to `value` (added before the end if absent), or removed. */
function withTag(xml: string, tag: string, value: string | undefined): string {
  const re = new RegExp(`<${tag}>[\\s\\S]*?</${tag}>`);
  const element = value === undefined ? '' : `<${tag}>${escapeXml(value)}</${tag}>`;
  if (re.test(xml)) return xml.replace(re, () => element);
  const end = xml.lastIndexOf(RESULT_END);
  return end < 0 ? xml : xml.slice(0, end) + element + xml.slice(end);
}

/** `xml` with these `<Contents>` blocks instead of its own (where the first was), KeyCount kept true. */
function withContents(xml: string, blocks: readonly string[]): string {
  const first = xml.search(CONTENTS);
  const stripped = xml.replace(CONTENTS, '');
  const at = first >= 0 ? first : Math.max(stripped.lastIndexOf(RESULT_END), 0);
  const out = stripped.slice(0, at) + blocks.join('') + stripped.slice(at);
  const prefixes = (xml.match(/<CommonPrefixes>/g) ?? []).length;
  return /<KeyCount>/.test(out) ? withTag(out, 'KeyCount', String(blocks.length + prefixes)) : out;
}

/** `xml` marked truncated, continued by `token`. */
function truncatedWith(xml: string, token: string): string {
  return withTag(withTag(xml, 'IsTruncated', 'true'), 'NextContinuationToken', token);
}

/** `block` with the text of its `<tag>` replaced by `map(old text)`. */
function mapTag(block: string, tag: string, map: (old: string) => string): string {
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`);
  return block.replace(
    re,
    (_m, old: string) => `<${tag}>${escapeXml(map(unescapeXml(old)))}</${tag}>`,
  );
}

/** One entry {@link injectKeys} adds. */
export interface InjectedKey {
  key: string;
  /** @default 1 */
  size?: number | string;
  /** The ETag as sent, quotes included. @default the MD5 of nothing, quoted */
  etag?: string;
  /** @default 2020-01-01 */
  lastModified?: Date;
}

/** Adds `<Contents>` entries for these keys (say, one outside the requested prefix) to every page. */
export function injectKeys(entries: readonly InjectedKey[]): ListingRewriter {
  const blocks = entries.map(
    (e) =>
      `<Contents><Key>${escapeXml(e.key)}</Key>` +
      `<LastModified>${(e.lastModified ?? new Date('2020-01-01T00:00:00Z')).toISOString()}</LastModified>` +
      `<ETag>${escapeXml(e.etag ?? '"d41d8cd98f00b204e9800998ecf8427e"')}</ETag>` +
      `<Size>${e.size ?? 1}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
  );
  return (xml) => withContents(xml, [...listingContents(xml), ...blocks]);
}

/**
 * Marks every page truncated with the same `NextContinuationToken`: a client that does not
 * notice lists the same page forever.
 */
export function repeatToken(token = 'fault-proxy-repeated-token'): ListingRewriter {
  return (xml) => truncatedWith(xml, token);
}

/** Reverses the order of the keys of each page (an unsorted page). */
export function reverseKeys(): ListingRewriter {
  return (xml) => withContents(xml, listingContents(xml).reverse());
}

/** Lists every key of each page twice, one after the other. */
export function duplicateKeys(): ListingRewriter {
  return (xml) =>
    withContents(
      xml,
      listingContents(xml).flatMap((b) => [b, b]),
    );
}

/** Sets every `<Size>` (say, 2^53 or -1), or maps it by key and listed size. */
export function rewriteSizes(
  size: number | string | ((key: string, size: string) => number | string),
): ListingRewriter {
  const map = typeof size === 'function' ? size : () => size;
  return (xml) =>
    withContents(
      xml,
      listingContents(xml).map((b) =>
        mapTag(b, 'Size', (old) => String(map(listingTag(b, 'Key') ?? '', old))),
      ),
    );
}

/** Sets every `<ETag>` (as sent, quotes included), or maps it by key and listed ETag. */
export function rewriteEtags(
  etag: string | ((key: string, etag: string) => string),
): ListingRewriter {
  const map = typeof etag === 'function' ? etag : () => etag;
  return (xml) =>
    withContents(
      xml,
      listingContents(xml).map((b) =>
        mapTag(b, 'ETag', (old) => map(listingTag(b, 'Key') ?? '', old)),
      ),
    );
}

/**
 * Pages that go backwards: the first page (no continuation token) passes, marked truncated
 * if it was not; every continuation request is answered with that first page again, under
 * a new token each time. A client that does not compare pages lists forever.
 */
export function backwardsPage(): ListingRewriter {
  let first: string | undefined;
  let replays = 0;
  return (xml, request) => {
    if (request.token === undefined || first === undefined) {
      const token = listingTag(xml, 'NextContinuationToken');
      first = truncatedWith(xml, token ?? 'fault-proxy-first-page');
      return first;
    }
    return truncatedWith(first, `fault-proxy-replay-${++replays}`);
  };
}

/**
 * Pages of at most `maxKeys` keys, as `max-keys` would ask for (a query the proxy cannot add:
 * it would break the request's signature). A longer page is cut, marked truncated and
 * continued by its last key: the continuation token of radosgw, which lists from there on.
 */
export function paginate(maxKeys: number): ListingRewriter {
  return (xml) => {
    const blocks = listingContents(xml);
    if (blocks.length <= maxKeys) return xml;
    const kept = blocks.slice(0, Math.max(maxKeys, 1));
    return truncatedWith(withContents(xml, kept), listingTag(kept.at(-1)!, 'Key') ?? '');
  };
}

/** A listing's query without its continuation token: which listing it continues. */
function listingKey(query: URLSearchParams): string {
  const q = new URLSearchParams(query);
  q.delete('continuation-token');
  q.sort();
  return q.toString();
}

function isListing(method: string, query: string): boolean {
  return method === 'GET' && new URLSearchParams(query).get('list-type') === '2';
}

/** `rawHeaders` with the body's length set to `length` (and no chunked encoding). */
function withLength(rawHeaders: readonly string[], length: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (/^(content-length|transfer-encoding)$/i.test(name)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  out.push('Content-Length', String(length));
  return out;
}

function matches(match: FaultMatch, method: string, path: string, query: string): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.path !== undefined && !match.path.test(path)) return false;
  if (match.query !== undefined && !match.query.test(query)) return false;
  return true;
}

/** Starts a proxy in front of `options.target`; close it in `afterAll`. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:')
    throw new Error(`fault proxy: http targets only, not ${target.protocol}`);
  const maxRequests = options.maxRequests ?? 2_000;
  const maxLifetimeMs = options.maxLifetimeMs ?? 120_000;

  let rules: FaultRule[] = options.rules ?? [];
  let counts: number[] = rules.map(() => 0);
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const stopTimer = (timer: NodeJS.Timeout): void => {
    clearInterval(timer);
    timers.delete(timer);
  };
  let held = 0;
  /** Counts an exchange as held until its client goes away. */
  const hold = (res: http.ServerResponse): void => {
    held++;
    res.on('close', () => held--);
  };

  const pickRule = (method: string, path: string, query: string): number | undefined => {
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if ((counts[i] ?? 0) >= (rule.times ?? Infinity)) continue;
      if (!matches(rule.match, method, path, query)) continue;
      counts[i] = (counts[i] ?? 0) + 1;
      return i;
    }
    return undefined;
  };

  /** Complete first pages by query (without its token), and the tokens this proxy made up. */
  const complete = new Map<string, string>();
  const minted = new Set<string>();
  const rewriteListing = (
    fault: Extract<Fault, { kind: 'rewrite-listing' }>,
    upstreamXml: string,
    listing: ListingRequest,
  ): string => {
    let xml = upstreamXml;
    const rewriters = typeof fault.rewrite === 'function' ? [fault.rewrite] : fault.rewrite;
    for (const rewrite of rewriters) xml = rewrite(xml, listing);
    const token = listingTag(xml, 'NextContinuationToken');
    if (token !== undefined && token !== listingTag(upstreamXml, 'NextContinuationToken')) {
      minted.add(token);
    }
    return xml;
  };
  /**
   * A continuation under a token this proxy made up, answered from the complete first page:
   * the keys after the token, as radosgw reads a token it did not make (a marker). The
   * server is not asked, so the hostile listings do not depend on how it makes its tokens
   * (s3rver's are encrypted and it refuses others).
   */
  const answerMinted = (
    res: http.ServerResponse,
    fault: Extract<Fault, { kind: 'rewrite-listing' }>,
    listing: ListingRequest,
  ): boolean => {
    const full =
      listing.token !== undefined && minted.has(listing.token)
        ? complete.get(listingKey(listing.query))
        : undefined;
    if (full === undefined || listing.token === undefined) return false;
    const after = listing.token;
    const page = withContents(
      full,
      listingContents(full).filter((b) => (listingTag(b, 'Key') ?? '') > after),
    );
    const body = Buffer.from(rewriteListing(fault, page, listing), 'utf8');
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': body.length });
    res.end(body);
    return true;
  };

  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    fault: Fault | undefined,
    listing: ListingRequest | undefined,
  ): void => {
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (up) => {
        // The upstream response ends early when we (or the client) cut the exchange.
        up.on('error', () => req.socket.destroy());
        const status = up.statusCode ?? 502;
        if (fault?.kind === 'rewrite-listing' && listing !== undefined && status < 300) {
          const chunks: Buffer[] = [];
          let size = 0;
          up.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_LISTING_BYTES) {
              up.destroy();
              req.socket.destroy();
              return;
            }
            chunks.push(chunk);
          });
          up.on('end', () => {
            if (size > MAX_LISTING_BYTES) return;
            const upstreamXml = Buffer.concat(chunks).toString('utf8');
            if (listing.token === undefined && listingTag(upstreamXml, 'IsTruncated') !== 'true') {
              complete.set(listingKey(listing.query), upstreamXml);
            }
            const body = Buffer.from(rewriteListing(fault, upstreamXml, listing), 'utf8');
            res.writeHead(status, up.statusMessage, withLength(up.rawHeaders, body.length));
            res.end(body);
          });
          return;
        }
        res.writeHead(status, up.statusMessage, up.rawHeaders);
        if (fault?.kind === 'reset-after-headers') {
          res.flushHeaders();
          up.destroy();
          // Let the headers reach the client before the connection goes.
          setImmediate(() => req.socket.destroy());
          return;
        }
        if (fault?.kind === 'truncate') {
          res.flushHeaders();
          let room = Math.max(fault.afterBytes, 0);
          const cut = (last: Buffer): void => {
            up.destroy();
            // Let what was written reach the client, then reset the connection.
            if (last.length === 0) setImmediate(() => req.socket.destroy());
            else res.write(last, () => req.socket.destroy());
          };
          if (room === 0) {
            cut(Buffer.alloc(0));
            return;
          }
          up.on('data', (chunk: Buffer) => {
            if (room <= 0) return;
            if (chunk.length < room) {
              room -= chunk.length;
              res.write(chunk);
              return;
            }
            const part = chunk.subarray(0, room);
            room = 0;
            cut(part);
          });
          up.on('end', () => {
            // The body was shorter than the cut: reset anyway, after it all.
            if (room > 0) cut(Buffer.alloc(0));
          });
          return;
        }
        if (fault?.kind === 'corrupt') {
          up.pipe(new Corrupt(fault.offset)).pipe(res);
          return;
        }
        if (fault?.kind === 'drip') {
          res.flushHeaders();
          const queue: Buffer[] = [];
          let queued = 0;
          let ended = false;
          up.on('data', (chunk: Buffer) => {
            queue.push(chunk);
            queued += chunk.length;
            if (queued > DRIP_BUFFER) up.pause();
          });
          up.on('end', () => {
            ended = true;
          });
          const tick = (): void => {
            const head = queue[0];
            if (head !== undefined) {
              res.write(head.subarray(0, 1));
              queued--;
              if (head.length > 1) queue[0] = head.subarray(1);
              else queue.shift();
              if (queued <= DRIP_BUFFER) up.resume();
            }
            if (queue.length === 0 && ended) {
              stopTimer(timer);
              res.end();
            }
          };
          const timer = setInterval(tick, Math.min(Math.max(fault.intervalMs, 1), MAX_STALL_MS));
          timers.add(timer);
          res.on('close', () => {
            stopTimer(timer);
          });
          return;
        }
        if (fault?.kind === 'hold-response') {
          res.flushHeaders();
          let room = Math.max(fault.afterBytes, 0);
          const stop = (): void => {
            up.pause();
            hold(res);
          };
          if (room === 0) {
            stop();
            return;
          }
          up.on('data', (chunk: Buffer) => {
            if (room <= 0) return;
            const part = chunk.subarray(0, room);
            room -= part.length;
            res.write(part);
            if (room <= 0) stop();
          });
          return;
        }
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('fault proxy: upstream failed');
      } else req.socket.destroy();
    });
    // The client went away (an abort, a reset we made): drop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (fault?.kind === 'hold-request') {
      // Keep reading (and dropping) the rest: a paused socket would never see the client go.
      let room = Math.max(fault.afterBytes, 0);
      if (room === 0) hold(res);
      req.on('data', (chunk: Buffer) => {
        if (room <= 0) return;
        const part = chunk.subarray(0, room);
        room -= part.length;
        upstream.write(part);
        if (room <= 0) hold(res);
      });
      return;
    }
    req.pipe(upstream);
  };

  const server = http.createServer((req, res) => {
    // A client that goes away mid-request (an abort, a reset we made) is expected.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);

    if (requests.length >= maxRequests) {
      requests.push({ method, path, query, rule: undefined });
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`fault proxy: more than ${maxRequests} requests`);
      return;
    }
    const index = pickRule(method, path, query);
    requests.push({ method, path, query, rule: index });
    const fault = index === undefined ? undefined : rules[index]!.fault;

    switch (fault?.kind) {
      case 'status': {
        // Read the whole request first, as a server that refuses it after reading would.
        req.resume();
        req.on('end', () => {
          const body = errorBody(fault.status, path);
          res.writeHead(fault.status, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(body),
            'x-amz-request-id': 'fault-proxy',
          });
          res.end(method === 'HEAD' ? undefined : body);
        });
        return;
      }
      case 'reset-before-headers':
        req.resume();
        req.on('end', () => req.socket.destroy());
        return;
      case 'stall': {
        req.pause();
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            if (!req.socket.destroyed) forward(req, res, undefined, undefined);
          },
          Math.min(Math.max(fault.ms, 0), MAX_STALL_MS),
        );
        timers.add(timer);
        res.on('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
        return;
      }
      case 'never-answer':
        // Read (and drop) the whole request; the answer never comes.
        req.resume();
        hold(res);
        return;
      default: {
        const listing = isListing(method, query)
          ? {
              query: new URLSearchParams(query),
              token: new URLSearchParams(query).get('continuation-token') ?? undefined,
            }
          : undefined;
        if (fault?.kind === 'rewrite-listing' && listing !== undefined) {
          if (answerMinted(res, fault, listing)) {
            req.resume();
            return;
          }
        }
        forward(req, res, fault, listing);
      }
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Connections we reset on purpose raise errors on the server side; they are expected.
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => {
        resolve();
      });
      for (const s of sockets) s.destroy();
    });
    return closing;
  };
  const lifetime = setTimeout(() => void close(), maxLifetimeMs);
  lifetime.unref();

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    applied: (index) => counts[index] ?? 0,
    holding: () => held,
    setRules(next) {
      rules = next;
      counts = next.map(() => 0);
    },
    close,
  };
}
