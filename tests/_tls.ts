/**
 * Test certificates made with `openssl` for the TLS tests: a CA and a server certificate it
 * signed, valid for 127.0.0.1 and localhost. Without openssl the tests fail loudly.
 *
 * @module
 */

/** Files of a test CA and of a server certificate it signed. */
export interface Certificates {
  /** The CA certificate (PEM) clients trust. */
  caFile: string;
  /** Its text. */
  ca: string;
  /** The server's certificate (PEM), for `serve --tls-cert`. */
  certFile: string;
  /** The server's private key (PEM), for `serve --tls-key`. */
  keyFile: string;
}

async function openssl(args: string[], dir: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", { args, cwd: dir, stdin: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "openssl is not installed: the TLS tests make their certificates with it " +
          "(apt-get install openssl)",
      );
    }
    throw error;
  }
  if (!output.success) {
    throw new Error(
      `openssl ${args.join(" ")} failed:\n${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** Makes a CA and a server certificate for 127.0.0.1 in `dir` (P-256 keys, valid one day). */
export async function makeCertificates(dir: string): Promise<Certificates> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1"].concat(
      ["-subj", "/CN=tinychat test CA"],
    ),
    dir,
  );
  await openssl(
    ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
    dir,
  );
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
  );
  await openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"].concat(
      ["-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "server.ext"],
    ),
    dir,
  );
  return {
    caFile: `${dir}/ca.pem`,
    ca: await Deno.readTextFile(`${dir}/ca.pem`),
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
  };
}
