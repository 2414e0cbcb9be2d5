import { connect, type ConnectOptions, type TinychatClient } from "../client.ts";
import { loginWithPassword, type PasswordSource } from "./password.ts";
import { ClientState } from "./state.ts";
import { tlsConnectOptions, type TlsFlags } from "./tls.ts";

/** What `connect` and `send` know about whom to log in as, and where. */
export interface SessionFlags {
  user: string;
  host: string;
  port: number;
  stateRoot: string;
  password: PasswordSource;
  tls: TlsFlags;
}

/**
 * Opens the command's local state and logs in with its flags (the password asked at the prompt
 * when the server wants one), the first messageId taken from that state. `options` adds to what
 * `connect()` is given; it is called at each attempt (a timeout starts after the prompt).
 */
export async function openSession(
  flags: SessionFlags,
  options: () => Partial<Omit<ConnectOptions, "user" | "host" | "port" | "password">> = () => ({}),
): Promise<{ state: ClientState; client: TinychatClient }> {
  const state = await ClientState.open(flags.stateRoot, flags.host, flags.port, flags.user);
  const tls = await tlsConnectOptions(flags.tls);
  const client = await loginWithPassword(flags.user, flags.password, (password) =>
    connect({
      user: flags.user,
      host: flags.host,
      port: flags.port,
      ...tls,
      firstId: state.firstId,
      ...options(),
      ...(password === undefined ? {} : { password }),
    }));
  return { state, client };
}
