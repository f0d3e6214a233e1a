/**
 * An HTTPS server on a unix socket (a filesystem path or a Linux abstract name), which neither
 * Bun.serve nor https.Server can listen on with TLS: node:http and node:tls carried by
 * bsdsock's AsyncSocket.toDuplex().
 *
 *   bun run examples/https-unix.ts --path /tmp/https.sock [--cert cert.pem --key key.pem] [--requests N]
 *   bun run examples/https-unix.ts --abstract my-https [...]
 *   curl --cacert CERT --unix-socket /tmp/https.sock https://localhost/hello
 *   curl --cacert CERT --abstract-unix-socket my-https https://localhost/hello
 *
 * Without --cert/--key it makes a self-signed certificate for "localhost" with openssl(1) in a
 * temporary directory and prints its path (the CA to give curl). It prints one line once it
 * listens ("https on unix:PATH, CA CERT"), answers every request with its method, path and
 * body length, and stops on SIGINT/SIGTERM (or after N requests): the socket file is removed.
 * Exit status 0; 2 for usage errors; 1 when it cannot listen.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { AsyncSocket } from "../src/async/async.ts";
import { SocketError } from "../src/core/errors.ts";

function usage(message: string): never {
  process.stderr.write(`https-unix.ts: ${message}\nusage: https-unix.ts --path PATH | --abstract NAME [--cert FILE --key FILE] [--requests N]\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({ options: { path: { type: "string" }, abstract: { type: "string" }, cert: { type: "string" }, key: { type: "string" }, requests: { type: "string" } } });
} catch (e) {
  usage((e as Error).message);
}
const { values } = parsed;
if ((values.path === undefined) === (values.abstract === undefined)) usage("give exactly one of --path and --abstract");
if ((values.cert === undefined) !== (values.key === undefined)) usage("--cert and --key go together");
const limit = values.requests === undefined ? Infinity : Number(values.requests);
if (!(limit === Infinity || (Number.isInteger(limit) && limit > 0))) usage("--requests must be a positive integer");

// The certificate: given, or a fresh self-signed one.
let certFile = values.cert;
let keyFile = values.key;
let scratch: string | null = null;
if (certFile === undefined || keyFile === undefined) {
  scratch = mkdtempSync(join(tmpdir(), "https-unix-"));
  certFile = join(scratch, "cert.pem");
  keyFile = join(scratch, "key.pem");
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: ["ignore", "ignore", "pipe"] });
  if (r.exitCode !== 0) {
    process.stderr.write(`https-unix.ts: cannot make a certificate with openssl (give --cert and --key): ${r.stderr.toString().trim() || "openssl not found"}\n`);
    process.exit(1);
  }
}
const key = readFileSync(keyFile);
const cert = readFileSync(certFile);

const address = values.path !== undefined ? { family: "unix" as const, path: values.path } : { family: "unix" as const, abstract: values.abstract! };
const shown = values.path ?? `@${values.abstract!}`;
let listener: AsyncSocket;
try {
  listener = AsyncSocket.listen(address);
} catch (e) {
  process.stderr.write(`https-unix.ts: ${e instanceof SocketError ? e.message : String(e)}\n`);
  process.exit(1);
}

let served = 0;
// A plain http.Server fed TLS sockets: the TLS layer is ours (tls.TLSSocket over the Duplex).
const app = http.createServer((req, res) => {
  let bytes = 0;
  req.on("data", (d: Buffer) => { bytes += d.length; });
  req.on("end", () => {
    res.setHeader("content-type", "text/plain");
    res.end(`hello over TLS on unix:${shown}: ${req.method} ${req.url} (${bytes} bytes)\n`);
    if (++served >= limit) stop();
  });
});

function stop(): void {
  listener.close();
  if (values.path !== undefined) rmSync(values.path, { force: true });
  if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
  // Let the last response flush, then close what is still open.
  setTimeout(() => {
    app.closeAllConnections();
    process.exit(0);
  }, 50);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

console.log(`https on unix:${shown}, CA ${certFile}`);
for await (const conn of listener.connections()) {
  const secure = new tls.TLSSocket(conn.toDuplex(), { isServer: true, key, cert, ALPNProtocols: ["http/1.1"] });
  secure.on("error", () => secure.destroy()); // a client that fails the handshake: drop it
  app.emit("connection", secure);
}
