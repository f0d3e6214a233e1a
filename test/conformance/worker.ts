/**
 * Worker entry for the blocking pipes (blocking.ts): runs one routine at a time on a
 * BlockingConn over a dup of the fd it is given, closes the dup, and posts the result.
 * Messages in: { id, name, fd, state, args }. Out: { ready: true } once, then { id, result }.
 */
import { BlockingConn, EndState } from "./blocking-conn.ts";
import { errInfo, runRoutine, type RoutineName, type RoutineResult } from "./routines.ts";

interface Job {
  id: number;
  name: RoutineName;
  fd: number;
  state: SharedArrayBuffer;
  args: never;
}

const scope = globalThis as unknown as {
  onmessage: ((ev: MessageEvent<Job>) => void) | null;
  postMessage(data: unknown): void;
};

scope.onmessage = async (ev) => {
  const { id, name, fd, state, args } = ev.data;
  let result: RoutineResult<unknown>;
  let conn: BlockingConn | undefined;
  try {
    conn = new BlockingConn(fd, new EndState(state));
    result = await runRoutine(name, conn, args);
  } catch (e) {
    result = { value: undefined, errors: [`worker: ${errInfo(e).name}: ${errInfo(e).message}`], threw: true };
  }
  try {
    conn?.dispose();
  } catch (e) {
    result.errors.push(`worker: closing the dup failed: ${errInfo(e).message}`);
  }
  scope.postMessage({ id, result });
};

scope.postMessage({ ready: true });
