import assert from "node:assert/strict";
import { configOverrides, unnamedOverrideSlugs } from "../lib/experiment.ts";
import { helpText, parseCli } from "../lib/cli.ts";
import { UserError } from "../lib/fsutil.ts";

Deno.test("parseCli: common flags, defaults and paper flags", () => {
  const a = parseCli("gan", ["--epochs", "3", "--batch-size", "32", "--lr", "1e-4", "--quick"]);
  assert.equal(a.epochs, 3);
  assert.equal(a.batchSize, 32);
  assert.equal(a.lr, 1e-4);
  assert.equal(a.quick, true);
  assert.equal(a.seed, 0);
  assert.equal(a.backend, "auto");
  const b = parseCli("gan", ["--g-loss", "minimax", "--seed", "7"], {
    "g-loss": { type: "string", choices: ["minimax", "non-saturating"], help: "" },
  });
  assert.equal(b.extra["g-loss"], "minimax");
  assert.equal(b.seed, 7);
});

Deno.test("parseCli: bad input gives one-line UserErrors naming the problem", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /^unknown flag --bogus for gan \(see --help\)$/],
    [["--epochs", "two"], /--epochs expects a positive integer, got "two"/],
    [["--epochs", "0"], /--epochs expects a positive integer/],
    [["--lr=-1"], /--lr expects a positive number, got "-1"/],
    [["--lr", "0"], /--lr expects a positive number, got "0"/],
    [["--seed", "1.5"], /--seed expects an integer/],
    [["--backend", "cuda"], /unknown backend "cuda"/],
    [["stray"], /unexpected argument "stray"/],
    [["--g-loss", "wasserstein"], /--g-loss expects one of minimax, non-saturating/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(
      () =>
        parseCli("gan", argv, {
          "g-loss": { type: "string", choices: ["minimax", "non-saturating"], help: "" },
        }),
      (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes("\n"),
      argv.join(" "),
    );
  }
});

Deno.test("helpText lists common and paper flags", () => {
  const h = helpText("gan", "desc", {
    "g-loss": { type: "string", choices: ["a", "b"], help: "G loss" },
  });
  for (const s of ["--epochs N", "--resume", "--quick", "--g-loss a|b", "G loss", "desc"]) {
    assert.ok(h.includes(s), s);
  }
});

Deno.test("config overrides: recorded by field; run-id words only for fields the id does not name", () => {
  const base = { dataset: "mnist", epochs: 200, lr: 2e-4, hidden: [128, 256], bn: true };
  const cfg = { ...base, dataset: "fashion-mnist", epochs: 10, hidden: [64, 64] };
  const overrides = configOverrides(base, cfg);
  assert.deepEqual(overrides, { dataset: "fashion-mnist", epochs: 10, hidden: [64, 64] });
  assert.deepEqual(configOverrides(base, { ...base }), {});
  const parts = (c: typeof base) => [c.dataset];
  assert.deepEqual(unnamedOverrideSlugs(overrides, base, cfg, parts), ["epochs10", "hidden64x64"]);
  assert.deepEqual(
    unnamedOverrideSlugs({ lr: 1e-3, bn: false }, base, { ...base, lr: 1e-3, bn: false }, parts),
    ["lr0.001", "bnfalse"],
  );
});
