/**
 * The shape of a platform table: constants, errno numbers, scalar sizes and struct layouts
 * of one OS/arch/libc, as generated from its headers (see ffi/gen/generate.ts). The types
 * are derived from ffi/gen/names.ts, so a table missing a required name fails `tsc`.
 */
import type {
  ExpressionName, FieldSpec, OptionalConstant, RequiredConstant, RequiredErrno, ScalarName,
  StructName, structs,
} from "./gen/names.ts";

/** Where a struct member sits: byte offset and size. */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

type PlainField<F> = F extends string ? F : never;
type GuardedField<F> = F extends { readonly name: infer N extends string } ? N : never;

/** Layout of one struct: size, alignment and its members (guarded members may be absent). */
export interface StructLayout<F extends FieldSpec = FieldSpec> {
  readonly size: number;
  readonly align: number;
  readonly fields: { readonly [K in PlainField<F>]: FieldLayout } & {
    readonly [K in GuardedField<F>]?: FieldLayout;
  };
}

type Spec = typeof structs;
type LayoutOf<K extends StructName> = StructLayout<Spec[K]["fields"][number]>;

/** All struct layouts; a struct with a platform guard is null where it does not exist. */
export type StructLayouts = {
  readonly [K in StructName]: Spec[K] extends { readonly guard: string } ? LayoutOf<K> | null : LayoutOf<K>;
};

/** Constant values: required ones are numbers everywhere, optional ones may be null. */
export type Constants = { readonly [K in RequiredConstant]: number } & {
  readonly [K in OptionalConstant]: number | null;
};

/** errno numbers by name: every E* macro of the platform's errno.h. */
export type ErrnoTable = { readonly [K in RequiredErrno]: number } & {
  readonly [name: string]: number;
};

/** Everything bsdsock knows about one platform's C ABI. */
export interface PlatformTable {
  /** e.g. "linux-x64-glibc", "darwin-arm64". */
  readonly platform: string;
  /** Compiler, libc and header versions the table was generated from. */
  readonly source: string;
  readonly constants: Constants;
  readonly expressions: { readonly [K in ExpressionName]: number };
  readonly sizes: { readonly [K in ScalarName]: number };
  readonly structs: StructLayouts;
  readonly errno: ErrnoTable;
}
