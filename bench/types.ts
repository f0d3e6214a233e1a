/** The shape of bench/results/*.json (schema 1). */

/** Numeric figures one process reported (plus those derived from them). */
export type Figures = Record<string, number>;

export type ContenderResult =
  | { ok: true; /** The best repetition by the workload's primary metric. */ figures: Figures; reps: Figures[] }
  | { ok: false; reason: string };

export interface ContenderInfo {
  id: string;
  label: string;
  available: boolean;
  reason: string | null;
}

export interface WorkloadResult {
  id: string;
  title: string;
  /** "client": the contender is the client against a C peer; "server": the contender serves a C client. */
  side: "client" | "server";
  peer: string;
  /** The figure used to pick the best repetition and to draw the chart. */
  primary: string;
  /** Repetitions each contender ran (the run's reps, times the workload's factor). */
  reps: number;
  results: Record<string, ContenderResult>;
}

export interface Machine {
  host: string;
  cpu: string;
  cores: number;
  kernel: string;
  bun: string;
  node: string | null;
  cc: string | null;
  loadavg_start: number[];
  loadavg_end: number[];
}

export interface BenchResult {
  schema: 1;
  mode: "full" | "quick" | "smoke";
  reps: number;
  /** Contenders ran on CPU 0 and peers on CPU 1 (taskset). */
  pinned: boolean;
  date: string;
  duration_s: number;
  machine: Machine;
  params: Record<string, number>;
  contenders: ContenderInfo[];
  workloads: WorkloadResult[];
}
