/**
 * Packet capture on Linux AF_PACKET sockets: promiscuous membership (PACKET_ADD_MEMBERSHIP
 * with a struct packet_mreq) and classic BPF filters (SO_ATTACH_FILTER with a struct
 * sock_fprog built here, its `filter` pointer aimed at a struct sock_filter array that stays
 * referenced for the duration of the setsockopt call). Layouts and opcodes come from the
 * generated tables. The sockets themselves are ordinary Sockets/AsyncSockets:
 * `new AsyncSocket("packet", "raw", htons(ETH_P_ALL))`, bound to a `PacketAddress`.
 */
import { table } from "../../ffi/platform.ts";
import type { AsyncSocket } from "../async/async.ts";
import * as check from "../core/check.ts";
import { present } from "../core/constants.ts";
import { addressOf, bytes, putUint } from "../core/pointers.ts";
import type { Socket } from "../socket/socket.ts";
import { writeIntField } from "../core/structs.ts";
import * as sys from "../core/sys.ts";

const C = table.constants;
const S = table.structs;

/** An AF_PACKET/BPF fact from the table (RangeError on platforms without AF_PACKET). */
const need = <T>(what: string, v: T | null | undefined): T => present("packet capture", what, v);

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInstruction {
  /** Opcode: constants.BPF_LD | BPF_H | BPF_ABS, ... */
  readonly code: number;
  /** Jump offset if true (conditional jumps). */
  readonly jt: number;
  /** Jump offset if false. */
  readonly jf: number;
  /** The constant operand. */
  readonly k: number;
}

/** A BPF instruction: `bpf(BPF_LD | BPF_H | BPF_ABS, 12)`, `bpf(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 5)`. */
export function bpf(code: number, k = 0, jt = 0, jf = 0): BpfInstruction {
  return { code, jt, jf, k };
}

/** The fd of a Socket or AsyncSocket. */
const fdOf = (sock: Socket | AsyncSocket): number => sock.fd;

/**
 * Attaches a classic BPF program to the socket (SO_ATTACH_FILTER): the kernel then delivers
 * only the packets it accepts (returning the byte count to keep; 0 drops). Every instruction
 * is range-checked (code u16, jt/jf u8, k u32) before the call; at most BPF_MAXINSNS.
 */
export function attachFilter(sock: Socket | AsyncSocket, program: readonly BpfInstruction[]): void {
  const F = need("struct sock_filter", S.sock_filter);
  const P = need("struct sock_fprog", S.sock_fprog);
  if (!Array.isArray(program) || program.length === 0) throw new TypeError("attachFilter: program must be a non-empty array of instructions");
  const max = need("BPF_MAXINSNS", C.BPF_MAXINSNS);
  if (program.length > max) throw new RangeError(`attachFilter: at most ${max} instructions, got ${program.length}`);
  const code = bytes(program.length * F.size);
  const cv = new DataView(code.buffer);
  program.forEach((ins, i) => {
    if (ins === null || typeof ins !== "object") throw new TypeError(`attachFilter: instruction ${i} must be { code, jt, jf, k }`);
    const base = i * F.size;
    const at = (f: { offset: number; size: number }) => ({ offset: base + f.offset, size: f.size });
    writeIntField(cv, at(F.fields.code), check.unsigned("attachFilter", `program[${i}].code`, ins.code, 16));
    writeIntField(cv, at(F.fields.jt), check.unsigned("attachFilter", `program[${i}].jt`, ins.jt, 8));
    writeIntField(cv, at(F.fields.jf), check.unsigned("attachFilter", `program[${i}].jf`, ins.jf, 8));
    writeIntField(cv, at(F.fields.k), check.unsigned("attachFilter", `program[${i}].k`, ins.k, 32));
  });
  const prog = bytes(P.size);
  const pv = new DataView(prog.buffer);
  writeIntField(pv, P.fields.len, program.length);
  putUint(pv, 0, P.fields.filter, addressOf(code), "sock_fprog.filter");
  sys.setsockopt(fdOf(sock), C.SOL_SOCKET, need("SO_ATTACH_FILTER", C.SO_ATTACH_FILTER), prog, P.size);
  // `code` is referenced until here: the kernel copied the program during setsockopt.
  void code.byteLength;
}

/** Removes the socket's BPF filter (SO_DETACH_FILTER). */
export function detachFilter(sock: Socket | AsyncSocket): void {
  sys.setIntOption(fdOf(sock), C.SOL_SOCKET, need("SO_DETACH_FILTER", C.SO_DETACH_FILTER), 0);
}

/**
 * Puts interface `ifindex` in promiscuous mode for as long as the socket holds the membership
 * (PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC): frames addressed to other hosts are delivered
 * too. The kernel drops the membership when the socket closes.
 */
export function setPromiscuous(sock: Socket | AsyncSocket, ifindex: number, on = true): void {
  const M = need("struct packet_mreq", S.packet_mreq);
  const mreq = bytes(M.size);
  const v = new DataView(mreq.buffer);
  writeIntField(v, M.fields.mr_ifindex, check.int32("setPromiscuous", "ifindex", ifindex));
  writeIntField(v, M.fields.mr_type, need("PACKET_MR_PROMISC", C.PACKET_MR_PROMISC));
  const opt = on ? need("PACKET_ADD_MEMBERSHIP", C.PACKET_ADD_MEMBERSHIP) : need("PACKET_DROP_MEMBERSHIP", C.PACKET_DROP_MEMBERSHIP);
  sys.setsockopt(fdOf(sock), need("SOL_PACKET", C.SOL_PACKET), opt, mreq, M.size);
}

/** A 16-bit value in network byte order, as AF_PACKET's socket() protocol argument wants it. */
export function htons16(v: number): number {
  const x = check.unsigned("htons16", "value", v, 16);
  return table.expressions.LITTLE_ENDIAN === 1 ? ((x & 0xff) << 8) | (x >> 8) : x;
}

/**
 * A BPF program accepting IPv4 and IPv6 UDP datagrams (unfragmented, or first fragments) with
 * source or destination `port`, on Ethernet-framed links (Ethernet, loopback), dropping
 * everything else: what `tcpdump -dd udp port P` computes, written out with the table's opcodes.
 */
export function udpPortFilter(port: number): BpfInstruction[] {
  const p = check.unsigned("udpPortFilter", "port", port, 16);
  const n = (name: string): number => need(name, (C as unknown as Record<string, number | null>)[name]);
  const LD_H_ABS = n("BPF_LD") | n("BPF_H") | n("BPF_ABS");
  const LD_B_ABS = n("BPF_LD") | n("BPF_B") | n("BPF_ABS");
  const LD_H_IND = n("BPF_LD") | n("BPF_H") | n("BPF_IND");
  const LDX_B_MSH = n("BPF_LDX") | n("BPF_B") | n("BPF_MSH");
  const JEQ = n("BPF_JMP") | n("BPF_JEQ") | n("BPF_K");
  const JSET = n("BPF_JMP") | n("BPF_JSET") | n("BPF_K");
  const RET = n("BPF_RET") | n("BPF_K");
  const UDP = C.IPPROTO_UDP;
  const ETH = n("ETH_HLEN"); // 14: IP starts here
  // Offsets inside the frame (Ethernet header first).
  const program = [
    /* 0 */ bpf(LD_H_ABS, ETH - 2),                // EtherType
    /* 1 */ bpf(JEQ, n("ETH_P_IPV6"), 0, 6),       // IPv6? else to 8
    /* 2 */ bpf(LD_B_ABS, ETH + 6),                // next header
    /* 3 */ bpf(JEQ, UDP, 0, 15),                  // UDP? else drop (19)
    /* 4 */ bpf(LD_H_ABS, ETH + 40),               // source port
    /* 5 */ bpf(JEQ, p, 12, 0),                    // → accept (18)
    /* 6 */ bpf(LD_H_ABS, ETH + 42),               // destination port
    /* 7 */ bpf(JEQ, p, 10, 11),                   // → accept (18) / drop (19)
    /* 8 */ bpf(JEQ, n("ETH_P_IP"), 0, 10),        // IPv4? else drop (19)
    /* 9 */ bpf(LD_B_ABS, ETH + 9),                // protocol
    /* 10 */ bpf(JEQ, UDP, 0, 8),                  // UDP? else drop (19)
    /* 11 */ bpf(LD_H_ABS, ETH + 6),               // flags + fragment offset
    /* 12 */ bpf(JSET, 0x1fff, 6, 0),              // a later fragment: drop (19)
    /* 13 */ bpf(LDX_B_MSH, ETH),                  // X = IP header length
    /* 14 */ bpf(LD_H_IND, ETH),                   // source port
    /* 15 */ bpf(JEQ, p, 2, 0),                    // → accept (18)
    /* 16 */ bpf(LD_H_IND, ETH + 2),               // destination port
    /* 17 */ bpf(JEQ, p, 0, 1),                    // → accept (18) / drop (19)
    /* 18 */ bpf(RET, 0x40000),                    // accept: up to 256 KiB of the frame
    /* 19 */ bpf(RET, 0),                          // drop
  ];
  return program;
}
