// The few globals the SDK uses beyond ES2022 that both StarlingMonkey (in
// the component) and Node (in unit tests) provide; declared here so the
// type check needs neither the DOM lib nor @types/node.

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string);
  decode(input?: Uint8Array): string;
}

declare const console: {
  log(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
