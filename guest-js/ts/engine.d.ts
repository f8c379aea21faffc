// What the engine gives the files it evaluates before a bundle (see
// ../js/BRIDGE.md): the native bridge and the helpers ../js/00-internal.js
// shares. Only what pb.ts and wit.generated.ts use.

declare const __pbs: {
  /** A `pb:*` host call (../src/bridge/pb.rs); throws a `PbError` for a WIT error. */
  pb(op: string, args: unknown[]): unknown;
};

declare const __pbsInternal: {
  /** Defines a global the way the Web platform does (non-enumerable). */
  expose(name: string, value: unknown): void;
  /** Logs an error that has nowhere else to go. */
  reportError(err: unknown, context: string): void;
  /** Remembers a secret value read, for redactSecrets. */
  noteSecret(value: string): void;
  /** `text` with every secret value read so far replaced by `[redacted]`. */
  redactSecrets(text: string): string;
};
