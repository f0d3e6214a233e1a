/**
 * An HTTP(S) client whose TCP socket is made the way Bun's own cannot make one: from a chosen
 * local port and address, bound to a network device (SO_BINDTODEVICE), or MPTCP. node:http
 * (and node:tls for https) run over it through AsyncSocket.toDuplex().
 *
 *   bun run examples/http-client.ts URL [--local-port P] [--local-host A] [--device D] [--mptcp]
 *                                       [--method M] [--data TEXT] [--include] [--cacert FILE] [--insecure]
 *   bun run examples/http-client.ts http://127.0.0.1:8080/ --local-port 40000 --device lo
 *
 * Prints the response body to stdout (with --include, the status line and headers first) and
 * exits 0 for a 2xx/3xx status, 1 for another status or a failed connection (with perror-style
 * text on stderr: "connect: Connection refused (127.0.0.1:8080)"), 2 for usage errors.
 * --device needs CAP_NET_RAW (or root) on kernels before 5.7: without it, "setsockopt: ..."
 * names the cause. The host must be an IP address or a name getaddrinfo resolves.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import { isIP } from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { AsyncSocket } from "../src/async/async.ts";
import { getaddrinfo } from "../src/socket/resolve.ts";

function usage(message: string): never {
  process.stderr.write(`http-client.ts: ${message}\nusage: http-client.ts URL [--local-port P] [--local-host A] [--device D] [--mptcp] [--method M] [--data TEXT] [--include] [--cacert FILE] [--insecure]\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      "local-port": { type: "string" }, "local-host": { type: "string" }, device: { type: "string" }, mptcp: { type: "boolean" },
      method: { type: "string" }, data: { type: "string" }, include: { type: "boolean", short: "i" },
      cacert: { type: "string" }, insecure: { type: "boolean", short: "k" },
    },
  });
} catch (e) {
  usage((e as Error).message);
}
const { values, positionals } = parsed;
if (positionals.length !== 1) usage("give one URL");
let url: URL;
try {
  url = new URL(positionals[0]!);
} catch {
  usage(`not a URL: ${positionals[0]}`);
}
if (url.protocol !== "http:" && url.protocol !== "https:") usage(`only http: and https: URLs, not ${url.protocol}`);
const localPort = values["local-port"] === undefined ? 0 : Number(values["local-port"]);
if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65535) usage("--local-port must be 0..65535");
const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
const host = url.hostname.replace(/^\[(.*)\]$/, "$1");

function fail(e: unknown): never {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

// The address: an IP literal as it is, a name through getaddrinfo (first answer).
let remote: { family: "inet" | "inet6"; host: string; port: number };
try {
  const [first] = getaddrinfo(host, port, { type: "stream" });
  remote = first!.address as typeof remote;
} catch (e) {
  fail(e);
}

/** The socket, set up before connect as C would: options, bind, then connect. */
async function connect(): Promise<AsyncSocket> {
  const sock = new AsyncSocket(remote.family, "stream", values.mptcp ? "mptcp" : "tcp");
  try {
    if (values.device !== undefined) sock.setOption("bindToDevice", values.device);
    if (localPort !== 0 || values["local-host"] !== undefined) {
      sock.setOption("reuseAddress", true);
      const any = remote.family === "inet" ? "0.0.0.0" : "::";
      sock.bind({ family: remote.family, host: values["local-host"] ?? any, port: localPort } as Parameters<AsyncSocket["bind"]>[0]);
    }
    await sock.connect(remote, { timeout: 10_000 });
    return sock;
  } catch (e) {
    sock.close();
    throw e;
  }
}

let sock: AsyncSocket;
try {
  sock = await connect();
} catch (e) {
  fail(e);
}
const duplex = sock.toDuplex();
const transport = url.protocol === "https:"
  // SNI carries names only; the certificate is checked against `host` (an IP needs an IP SAN).
  ? tls.connect({ socket: duplex, host, ...(isIP(host) === 0 ? { servername: host } : {}), ca: values.cacert === undefined ? undefined : readFileSync(values.cacert), rejectUnauthorized: !values.insecure })
  : duplex;

const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
  const req = http.request({
    method: values.method ?? (values.data === undefined ? "GET" : "POST"),
    host: url.host,
    path: `${url.pathname}${url.search}`,
    headers: { host: url.host, connection: "close" },
    createConnection: () => transport,
  } as http.RequestOptions, resolve);
  req.on("error", reject);
  req.end(values.data);
}).catch(fail);

if (values.include) {
  process.stdout.write(`HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}\r\n`);
  for (let i = 0; i < res.rawHeaders.length; i += 2) process.stdout.write(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`);
  process.stdout.write("\r\n");
}
for await (const chunk of res) process.stdout.write(chunk as Buffer);
transport.destroy();
process.exit(res.statusCode !== undefined && res.statusCode < 400 ? 0 : 1);
