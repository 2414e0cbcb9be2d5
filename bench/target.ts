/** A server to load: where it listens, and its pid when known (for CPU and memory figures). */
export interface Target {
  hostname: string;
  port: number;
  pid: number | undefined;
}
