/**
 * AsyncSocket.toDuplex(): a node:stream Duplex over a stream or seqpacket AsyncSocket, shaped
 * like net.Socket where node:tls, node:http and WebSocket libraries touch it, so those carry
 * their protocols over sockets Bun cannot make (unix seqpacket, abstract names, socketpairs,
 * MPTCP, device-bound or activated fds).
 *
 * Lifetime (the reason this exists instead of Duplex.fromWeb): the fd is closed exactly once,
 * when the readable side has ended and the writable side has finished (Duplex's autoDestroy),
 * or on destroy() or an error. Reads wait for demand: no recv runs while push() says stop.
 */
import { Duplex } from "node:stream";
import { table } from "../../ffi/platform.ts";
import { SocketError } from "../core/errors.ts";
import type { Address, RawAddress } from "../core/sockaddr.ts";
import type { AsyncSocket } from "./async.ts";

const C = table.constants;
const E = table.errno;

/** toDuplex() options. */
export interface ToDuplexOptions {
  /**
   * Keep the writable side open after the peer's end of stream (default true, as node:http's
   * and node:net servers set it): false ends the writable side when the readable side ends.
   */
  readonly allowHalfOpen?: boolean;
  /**
   * TCP_NODELAY on a TCP socket (default true, as node:http and Bun.serve set it on their
   * connections: a response written as headers then body must not wait for a delayed ACK).
   */
  readonly noDelay?: boolean;
  /** Largest single recv on a stream socket (default 65 536 bytes). Records always arrive whole. */
  readonly readSize?: number;
  /**
   * Seqpacket only: send a write() longer than this as several records of at most this many
   * bytes, for byte-stream protocols (HTTP, TLS) whose writes may exceed the largest record the
   * kernel takes (unix sockets: about the send buffer, ~208 KiB by default). Default: none, each
   * write() is one record and one too long fails with EMSGSIZE.
   */
  readonly recordSize?: number;
  /** Bytes buffered on the readable side before reads pause (default: Node's, 64 KiB). */
  readonly readableHighWaterMark?: number;
  /** Bytes buffered on the writable side before write() returns false (default: Node's, 64 KiB). */
  readonly writableHighWaterMark?: number;
}

/** How toDuplex reads one chunk: a recv of up to readSize bytes, or one whole record. */
export type ReadChunk = () => Promise<Uint8Array>;

/** A net.Socket-like address (`address()`): empty for unix and other families. */
export interface DuplexAddressInfo {
  readonly address?: string;
  readonly family?: "IPv4" | "IPv6";
  readonly port?: number;
}

/**
 * The Duplex toDuplex() returns. Besides the stream it has the members of net.Socket that
 * node:http, node:tls and ws use: addresses, setNoDelay/setKeepAlive (TCP only, else no-ops
 * as on a net.Socket over a pipe), setTimeout (an idle 'timeout' event), destroySoon, ref/unref.
 */
export class SocketDuplex extends Duplex {
  /** The AsyncSocket underneath (closed by destroy()). */
  readonly asyncSocket: AsyncSocket;
  /** Bytes received so far. */
  bytesRead = 0;
  #written = 0;
  readonly #readChunk: ReadChunk;
  readonly #records: boolean;
  readonly #recordSize: number;
  #reading = false;
  #wanted = false;
  #idleMs = 0;
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  #remote: Address | RawAddress | null | undefined = undefined;
  #local: Address | RawAddress | null | undefined = undefined;

  /** Made by AsyncSocket.toDuplex(); `readChunk` reads one chunk (empty: end of stream). */
  constructor(sock: AsyncSocket, readChunk: ReadChunk, options: ToDuplexOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? true,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      autoDestroy: true, // destroy (close the fd) once ended and finished
      emitClose: true,
    });
    this.asyncSocket = sock;
    this.#readChunk = readChunk;
    this.#records = sock.type === C.SOCK_SEQPACKET;
    this.#recordSize = options.recordSize ?? Infinity;
    if (this.#isTcp()) sock.setOption("noDelay", options.noDelay ?? true);
  }

  /** Bytes handed to the kernel so far (as net.Socket's). */
  get bytesWritten(): number {
    return this.#written;
  }

  /** False: the socket is connected when the Duplex is made. */
  get connecting(): boolean {
    return false;
  }

  /** False: as a connected net.Socket. */
  get pending(): boolean {
    return false;
  }

  /** "open", "readOnly", "writeOnly" or "closed", as net.Socket's. */
  get readyState(): "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.destroyed) return "closed";
    const r = this.readable;
    const w = this.writable;
    return r && w ? "open" : r ? "readOnly" : w ? "writeOnly" : "closed";
  }

  /** The peer's IP address (undefined for unix sockets, as net.Socket). */
  get remoteAddress(): string | undefined {
    return ipOf(this.#remoteAddress());
  }

  /** The peer's port (TCP only). */
  get remotePort(): number | undefined {
    return portOf(this.#remoteAddress());
  }

  /** "IPv4" or "IPv6" (TCP only). */
  get remoteFamily(): "IPv4" | "IPv6" | undefined {
    return familyOf(this.#remoteAddress());
  }

  /** This end's IP address (undefined for unix sockets). */
  get localAddress(): string | undefined {
    return ipOf(this.#localAddress());
  }

  /** This end's port (TCP only). */
  get localPort(): number | undefined {
    return portOf(this.#localAddress());
  }

  /** This end's IP family (TCP only). */
  get localFamily(): "IPv4" | "IPv6" | undefined {
    return familyOf(this.#localAddress());
  }

  /** `{ address, family, port }` of this end, `{}` for a unix socket (as net.Socket). */
  address(): DuplexAddressInfo {
    const a = this.#localAddress();
    const address = ipOf(a);
    return address === undefined ? {} : { address, family: familyOf(a)!, port: portOf(a)! };
  }

  /** TCP_NODELAY on a TCP socket; a no-op on others (as net.Socket over a pipe). */
  setNoDelay(noDelay = true): this {
    if (this.#isTcp()) this.asyncSocket.setOption("noDelay", noDelay);
    return this;
  }

  /**
   * SO_KEEPALIVE (and TCP_KEEPIDLE from `initialDelayMs`, rounded up to seconds) on a TCP
   * socket; a no-op on others.
   */
  setKeepAlive(enable = false, initialDelayMs = 0): this {
    if (!this.#isTcp()) return this;
    this.asyncSocket.setOption("keepAlive", enable);
    if (enable && initialDelayMs > 0) this.asyncSocket.setOption("keepAliveIdle", Math.max(1, Math.ceil(initialDelayMs / 1000)));
    return this;
  }

  /**
   * Emits 'timeout' after `ms` without a byte read or written (0 disables), as net.Socket:
   * the socket stays open; the listener decides. `callback` is added as a once-listener.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`setTimeout: ms must be a finite number ≥ 0, got ${String(ms)}`);
    if (callback !== undefined) this.once("timeout", callback);
    this.#idleMs = ms;
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    if (ms > 0 && !this.destroyed) {
      this.#idleTimer = setTimeout(() => this.emit("timeout"), Math.min(ms, 0x7fffffff));
      this.#idleTimer.unref();
    }
    return this;
  }

  /** The socket's timeout as net.Socket reports it (0: none). */
  get timeout(): number {
    return this.#idleMs;
  }

  /** Ends the writable side, then destroys once it has finished (net.Socket's destroySoon). */
  destroySoon(): void {
    if (this.writableFinished) {
      this.destroy();
      return;
    }
    this.once("finish", () => this.destroy());
    this.end();
  }

  /**
   * Kept for net.Socket compatibility (http.Agent calls them on pooled sockets); they change
   * nothing: a Duplex with a read pending keeps the event loop alive until it is destroyed.
   */
  ref(): this {
    return this;
  }

  /** See ref(). */
  unref(): this {
    return this;
  }

  override _read(): void {
    this.#wanted = true;
    if (!this.#reading) void this.#pump();
  }

  /** Reads while there is demand: one chunk per push, stopped when push() says so. */
  async #pump(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#wanted && !this.destroyed) {
        this.#wanted = false;
        const chunk = await this.#readChunk();
        if (this.destroyed) return;
        if (chunk.length === 0) {
          // On seqpacket an empty record reads as end of stream too (as `readable` takes it).
          this.push(null);
          return;
        }
        this.bytesRead += chunk.length;
        this.#touch();
        if (this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) this.#wanted = true;
      }
    } catch (e) {
      if (!this.destroyed) this.destroy(e as Error);
    } finally {
      this.#reading = false;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    if (this.#records) {
      // Each write() is one record: sent one after another, in order.
      let i = 0;
      const next = (error?: Error | null): void => {
        if (error || i === chunks.length) return callback(error);
        this.#send(chunks[i++]!.chunk, next);
      };
      next();
      return;
    }
    this.#send(Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  #send(data: Buffer, callback: (error?: Error | null) => void): void {
    const size = this.#recordSize;
    const sent = this.#records && data.length > size ? this.#sendRecords(data, size) : this.asyncSocket.sendAll(data);
    sent.then(
      () => {
        this.#written += data.length;
        this.#touch();
        callback();
      },
      (e: unknown) => callback(this.destroyed ? null : (e as Error)),
    );
  }

  async #sendRecords(data: Buffer, size: number): Promise<void> {
    for (let at = 0; at < data.length; at += size) await this.asyncSocket.sendAll(data.subarray(at, at + size));
  }

  /** end(): shutdown(SHUT_WR), the peer reads end of stream. A peer already gone is no error. */
  override _final(callback: (error?: Error | null) => void): void {
    try {
      if (!this.asyncSocket.closed) this.asyncSocket.shutdown("write");
      callback();
    } catch (e) {
      const gone = e instanceof SocketError && (e.errno === E.ENOTCONN || e.errno === E.EPIPE);
      callback(gone ? null : (e as Error));
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    // Addresses stay readable after close, as net.Socket's.
    this.#remoteAddress();
    this.#localAddress();
    this.asyncSocket.close();
    callback(error);
  }

  #touch(): void {
    this.#idleTimer?.refresh();
  }

  #isTcp(): boolean {
    const f = this.asyncSocket.family;
    return !this.asyncSocket.closed && this.asyncSocket.type === C.SOCK_STREAM && (f === C.AF_INET || f === C.AF_INET6);
  }

  #remoteAddress(): Address | RawAddress | null {
    if (this.#remote === undefined) this.#remote = peek(() => this.asyncSocket.remoteAddress);
    return this.#remote;
  }

  #localAddress(): Address | RawAddress | null {
    if (this.#local === undefined) this.#local = peek(() => this.asyncSocket.localAddress);
    return this.#local;
  }
}

/** An address read once; null when the socket cannot tell (closed, not connected). */
function peek(read: () => Address | RawAddress): Address | RawAddress | null {
  try {
    return read();
  } catch {
    return null;
  }
}

function ipOf(a: Address | RawAddress | null): string | undefined {
  return a !== null && (a.family === "inet" || a.family === "inet6") ? a.host : undefined;
}

function portOf(a: Address | RawAddress | null): number | undefined {
  return a !== null && (a.family === "inet" || a.family === "inet6") ? a.port : undefined;
}

function familyOf(a: Address | RawAddress | null): "IPv4" | "IPv6" | undefined {
  return a === null ? undefined : a.family === "inet" ? "IPv4" : a.family === "inet6" ? "IPv6" : undefined;
}
