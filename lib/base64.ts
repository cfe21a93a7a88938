/**
 * Base64 encoding without jsr:@std/encoding (jsr packages cannot be fetched on our machines).
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Standard base64 (RFC 4648, with padding) of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
