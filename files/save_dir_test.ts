import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultPartialDir, defaultSaveDir } from "./save_dir.ts";

const linux = Deno.build.os === "linux";

/** Runs `fn` with the environment variables `vars` set (undefined: unset), then restores them. */
function withEnv(vars: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) Deno.env.delete(key);
      else Deno.env.set(key, value);
    }
  };
  apply(vars);
  try {
    fn();
  } finally {
    apply(saved);
  }
}

Deno.test({
  name: "defaultSaveDir() honours XDG_DOWNLOAD_DIR, then user-dirs.dirs, then ~/Downloads",
  ignore: !linux,
  fn() {
    const config = Deno.makeTempDirSync();
    try {
      withEnv({ HOME: "/home/t", XDG_DOWNLOAD_DIR: "/data/dl", XDG_CONFIG_HOME: config }, () => {
        assert.equal(defaultSaveDir(), "/data/dl/tinychat");
      });
      withEnv({ HOME: "/home/t", XDG_DOWNLOAD_DIR: undefined, XDG_CONFIG_HOME: config }, () => {
        assert.equal(defaultSaveDir(), "/home/t/Downloads/tinychat");
        Deno.writeTextFileSync(
          join(config, "user-dirs.dirs"),
          '# written by xdg-user-dirs-update\nXDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n',
        );
        assert.equal(defaultSaveDir(), "/home/t/Téléchargements/tinychat");
        Deno.writeTextFileSync(join(config, "user-dirs.dirs"), 'XDG_DOWNLOAD_DIR="$HOME/"\n');
        assert.equal(defaultSaveDir(), "/home/t/Downloads/tinychat");
      });
    } finally {
      Deno.removeSync(config, { recursive: true });
    }
  },
});

Deno.test({
  name: "defaultPartialDir() is in the state directory, never in the save folder",
  ignore: !linux,
  fn() {
    withEnv({ HOME: "/home/t", XDG_STATE_HOME: undefined }, () => {
      assert.equal(defaultPartialDir(), "/home/t/.local/state/tinychat/partial");
    });
    withEnv({ HOME: "/home/t", XDG_STATE_HOME: "/s" }, () => {
      assert.equal(defaultPartialDir(), "/s/tinychat/partial");
    });
  },
});
