/**
 * Name resolution through libc. No test may need the internet, and none may make the resolver
 * send a DNS query: only numeric hosts (AI_NUMERICHOST) and "localhost" from /etc/hosts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { SocketError } from "../src/core/errors.ts";
import { AddressInfoError, createConnection, getaddrinfo, getnameinfo, interfaceName } from "../src/socket/resolve.ts";
import { Socket } from "../src/socket/socket.ts";
import { expectNoFdLeaks } from "./helpers.ts";

expectNoFdLeaks();

const hostsHasLocalhost = /^\s*127\.0\.0\.1\s+(.*\s)?localhost(\s|$)/m.test(readFileSync("/etc/hosts", "utf8"));
const servicesHasHttp = (() => {
  try { return /^http\s+80\/tcp/m.test(readFileSync("/etc/services", "utf8")); } catch { return false; }
})();
if (!servicesHasHttp) console.warn("SKIP service-name lookups: /etc/services has no http entry");
if (!hostsHasLocalhost) console.warn("SKIP localhost lookups: /etc/hosts has no 127.0.0.1 localhost line");

describe("getaddrinfo", () => {
  test("numeric IPv4 and IPv6, with port numbers and service names", () => {
    expect(getaddrinfo("127.0.0.1", 8080, { type: "stream", numericHost: true })).toEqual([
      { address: { family: "inet", host: "127.0.0.1", port: 8080 }, type: "stream", protocol: 6 },
    ]);
    const six = getaddrinfo("::1", "80", { type: "dgram", numericHost: true });
    expect(six).toEqual([
      { address: { family: "inet6", host: "::1", port: 80, flowinfo: 0, scopeId: 0 }, type: "dgram", protocol: 17 },
    ]);
  });

  test.skipIf(!servicesHasHttp)("service names from /etc/services", () => {
    expect(getaddrinfo("127.0.0.1", "http", { type: "stream", numericHost: true })[0]?.address)
      .toEqual({ family: "inet", host: "127.0.0.1", port: 80 });
    expect(getnameinfo({ family: "inet", host: "127.0.0.1", port: 80 }, { numericHost: true }))
      .toEqual({ host: "127.0.0.1", service: "http" });
  });

  test("passive wildcard addresses for bind", () => {
    const all = getaddrinfo(null, 0, { passive: true, type: "stream" }).map((a) => a.address.host);
    expect(all).toContain("0.0.0.0");
  });

  test.skipIf(!hostsHasLocalhost)("localhost from /etc/hosts, with its canonical name", () => {
    const r = getaddrinfo("localhost", 443, { family: "inet", type: "stream", canonicalName: true });
    expect(r[0]?.address).toEqual({ family: "inet", host: "127.0.0.1", port: 443 });
    expect(r[0]?.canonicalName).toBe("localhost");
  });

  test("errors keep the EAI code and gai_strerror's message", () => {
    let err: unknown;
    try { getaddrinfo("not-an-address", 80, { numericHost: true }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(AddressInfoError);
    const e = err as AddressInfoError;
    expect(e.code).toBe("EAI_NONAME");
    expect(e.syscall).toBe("getaddrinfo");
    expect(e.message).toMatch(/^getaddrinfo: [A-Z].+ \(not-an-address\)$/); // gai_strerror text varies by libc
    expect(() => getaddrinfo("127.0.0.1", "no-such-service-xyz", { numericHost: true, type: "stream" })).toThrow(
      expect.objectContaining({ code: "EAI_SERVICE" }),
    );
    expect(() => getaddrinfo("127.0.0.1", 70000)).toThrow(RangeError);
    expect(() => getaddrinfo("a\0b", 1)).toThrow(TypeError);
    expect(() => getaddrinfo(null, null)).toThrow(TypeError);
  });
});

describe("getnameinfo and interfaces", () => {
  test("numeric host and service", () => {
    expect(getnameinfo({ family: "inet6", host: "::1", port: 8080 }, { numericHost: true, numericService: true }))
      .toEqual({ host: "::1", service: "8080" });
  });

  test.skipIf(!hostsHasLocalhost)("127.0.0.1 has the name localhost (from /etc/hosts)", () => {
    expect(getnameinfo({ family: "inet", host: "127.0.0.1", port: 22 }).host).toBe("localhost");
  });

  test("the loopback interface has a name and an index that map to each other", () => {
    const name = interfaceName(1);
    expect(name).toBe("lo");
    expect(interfaceName(0xfffff)).toBeNull();
  });
});

describe("createConnection", () => {
  test.skipIf(!hostsHasLocalhost)("resolves and connects; refused ports give the connect error", () => {
    using server = Socket.listen({ family: "inet", host: "127.0.0.1", port: 0 });
    const port = (server.localAddress as { port: number }).port;
    using client = createConnection("localhost", port, { family: "inet" });
    const [conn] = server.accept();
    using _ = conn;
    expect(client.remoteAddress).toEqual({ family: "inet", host: "127.0.0.1", port });
    server.close();
    expect(() => createConnection("127.0.0.1", port)).toThrow(SocketError);
  });
});
