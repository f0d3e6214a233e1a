/**
 * A CI-sized run of the soak (soak/soak.ts; `npm run soak` runs 1 000 × 10 000 + 4 GiB):
 * 50 concurrent connections × 100 records of 512 B each way plus a 64 MiB stream, through a C
 * echo peer, poll()-driven, every record and the stream crc32-checked; and the RSS leak check
 * (soak/rss.ts) at its full size: 200k send/recv + 20k create/close + 20k sendTo/recvFrom,
 * ≤ 5 % growth after warm-up (about a second of work, so no looser bound is needed).
 */
import { describe, expect, test } from "bun:test";
import { formatResult, runSoak } from "../soak/soak.ts";
import { runRssCheck } from "../soak/rss.ts";
import { expectNoFdLeaks, noCompilerReason } from "./helpers.ts";

expectNoFdLeaks();

describe("soak (CI size)", () => {
  test.skipIf(noCompilerReason !== null)("50 connections × 100 records + a 64 MiB stream: nothing lost, duplicated, reordered or corrupted", async () => {
    const r = await runSoak({ connections: 50, messages: 100, streamBytes: 64 * 2 ** 20, timeLimitMs: 20_000 });
    if (!r.ok) console.log(formatResult(r));
    expect(r.errors).toEqual([]);
    expect([r.lost, r.duplicated, r.reordered, r.corrupted, r.streamBlockErrors]).toEqual([0, 0, 0, 0, 0]);
    expect(r.recordsVerified).toBe(5000);
    expect(r.streamBytesVerified).toBe(64 * 2 ** 20);
    expect(r.streamCrcReceived).toBe(r.streamCrcSent);
    expect(r.peerExit).toBe(0);
    expect(r.ok).toBe(true);
  }, 30_000);

  test("RSS after 200k send/recv + 20k create/close + 20k sendTo/recvFrom + 20k async round trips grows ≤ 5 % after warm-up; fds and reactor registrations unchanged", async () => {
    const r = await runRssCheck({ sendRecv: 200_000, createClose: 20_000, sendToRecvFrom: 20_000, timeLimitMs: 25_000 });
    console.log(r.summary);
    expect(r.fdsEnd).toBe(r.fdsWarm);
    expect(r.watchesEnd).toBe(r.watchesWarm); // every closed AsyncSocket left the reactor
    expect(r.growth).toBeLessThanOrEqual(0.05);
    expect(r.ok).toBe(true);
  }, 30_000);
});
