import { MAX_PAYLOAD_SIZE } from "./frame.ts";

const encoder = new TextEncoder();

/**
 * The payloads of a list answer (WHO, ROOM list and members): `lines` joined by "\n" into pages
 * that each fit one frame, then an empty page, which ends the list.
 *
 * @example
 * ```ts
 * import { linePages } from "./line_pages.ts";
 * linePages(["+alice", "-bob"]); // ["+alice\n-bob", ""]
 * ```
 */
export function linePages(lines: readonly string[]): string[] {
  const pages: string[] = [];
  let page = "";
  let size = 0;
  for (const line of lines) {
    const bytes = encoder.encode(line).length;
    if (page !== "" && size + 1 + bytes >= MAX_PAYLOAD_SIZE) {
      pages.push(page);
      page = "";
      size = 0;
    }
    size += page === "" ? bytes : 1 + bytes;
    page += page === "" ? line : `\n${line}`;
  }
  if (page !== "") pages.push(page);
  pages.push("");
  return pages;
}
